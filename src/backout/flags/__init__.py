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

from backout.flags.base import Flag, FlagProvider
from backout.flags.builtin import BuiltinFlags, BuiltinFlagSettings
from backout.flags.evaluation import Evaluator, FlagPayloadError
from backout.flags.fake import FakeFlags, FakeFlagSettings
from backout.flags.unleash import UnleashFlags, UnleashFlagSettings
from backout.registry import Registry

FLAG_PROVIDERS: Registry[FlagProvider] = Registry("flag provider")
FLAG_PROVIDERS.register("builtin", BuiltinFlagSettings, BuiltinFlags)
FLAG_PROVIDERS.register("fake", FakeFlagSettings, FakeFlags)
FLAG_PROVIDERS.register("unleash", UnleashFlagSettings, UnleashFlags)

__all__ = ["FLAG_PROVIDERS", "Evaluator", "Flag", "FlagPayloadError", "FlagProvider"]
