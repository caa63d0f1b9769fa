"""Feature flags: providers (where flags live, picked by `flags.provider.type`) and an
Unleash-compatible evaluation engine (the Unleash client specification).

    ev = Evaluator.from_client_features(payload)  # a client-features response, compiled once
    ev.is_enabled("new-checkout", {"userId": "42"})
    ev.get_variant("new-checkout", {"userId": "42"})

Answers agree with the Unleash SDKs' engine (Yggdrasil, as UnleashClient 6.9.1 ships it),
including what the specification leaves open: a value the engine cannot compile (a number
constraint on "twelve", an unknown operator, a missing segment, a rollout over 100%) turns the
whole flag off, and standard context fields are also read from `properties`. Where it departs:

- applicationHostname matches this host's name (the specification); that engine, in Python,
  never matches it.
- SEMVER operators ignore build metadata, as semver.org orders versions; that engine orders it.
- Variants whose weights sum to 0 give the disabled variant; that engine raises an error.
- REGEX patterns use the Rust syntax, translated to Python `re`; the few constructs without a
  faithful translation (`\\p{..}` classes, class set operations such as `[a--b]`, a repetition
  of a repetition such as `a**`, the CRLF flag `R`) never match, as an invalid pattern.
- Random stickiness draws from 1-100 as the specification says (that engine draws from 0-98).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backout.flags.base import Flag, FlagProvider
from backout.registry import Registry

if TYPE_CHECKING:
    from backout.flags.evaluation import Evaluator, FlagPayloadError

# Lazily: `flags disable` with the builtin provider needs no HTTP client and no rule engine.
FLAG_PROVIDERS: Registry[FlagProvider] = Registry("flag provider")
FLAG_PROVIDERS.register_lazy(
    "builtin", "backout.flags.builtin", "BuiltinFlagSettings", "BuiltinFlags"
)
FLAG_PROVIDERS.register_lazy("fake", "backout.flags.fake", "FakeFlagSettings", "FakeFlags")
FLAG_PROVIDERS.register_lazy(
    "unleash", "backout.flags.unleash", "UnleashFlagSettings", "UnleashFlags"
)


def __getattr__(name: str) -> Any:
    """`Evaluator` and `FlagPayloadError`, imported on first use (the engine is not small)."""
    if name in ("Evaluator", "FlagPayloadError"):
        from backout.flags import evaluation  # noqa: PLC0415

        return getattr(evaluation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FLAG_PROVIDERS", "Evaluator", "Flag", "FlagPayloadError", "FlagProvider"]
