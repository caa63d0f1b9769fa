"""The flag provider interface: where a team's feature flags live, and how backout changes them.

A provider holds each flag's state for one environment: on or off, its strategies (as Unleash
writes them: `flexibleRollout` with a `rollout` percent, `userWithId`, constraints ...), its
variants, and whether it is marked for removal. backout changes a flag only through a provider,
and records every change itself (operations/flags.py), so the history reads the same whichever
provider holds the flags.

Contract, which tests/flags/test_provider_contract.py checks for every provider:
- `flags()` lists every flag, sorted by key; `flag(key)` one, or NotFoundError naming the known.
- `set_enabled`, `set_rollout` and `mark_to_remove` return the flag as it is after the change,
  which `flag(key)` returns from then on; setting what is already set changes nothing and is no
  error (a kill switch pressed twice).
- `set_rollout(key, percent)` sets the percent of every gradual-rollout strategy of the flag,
  adding one (sticky on the user id, grouped by the flag's key) when it has none.
- `client_features()` is the payload the Unleash client API serves for the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from backout.errors import RefusedError

GRADUAL_ROLLOUT = "flexibleRollout"


@dataclass(frozen=True)
class Flag:
    key: str
    enabled: bool
    strategies: list[dict[str, Any]] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    to_remove: bool = False

    @property
    def rollout(self) -> int | None:
        """The percent of a gradual rollout; None when the flag has none (on for everyone)."""
        for strategy in self.strategies:
            if strategy.get("name") == GRADUAL_ROLLOUT:
                return int(str(strategy.get("parameters", {}).get("rollout", 100)))
        return None

    def exposure(self) -> str:
        """For people: 'off', 'on (everyone)', 'on (30 %)'."""
        if not self.enabled:
            return "off" if self.rollout is None else f"off ({self.rollout} % when on)"
        return "on (everyone)" if self.rollout is None else f"on ({self.rollout} %)"

    def as_state(self) -> dict[str, Any]:
        """What a change records before and after."""
        return {"enabled": self.enabled, "rollout": self.rollout, "to_remove": self.to_remove}

    def client_feature(self) -> dict[str, Any]:
        """The flag as the Unleash client API serves it."""
        return {
            "name": self.key,
            "type": "release",
            "description": self.description,
            "enabled": self.enabled,
            "stale": self.to_remove,
            "impressionData": False,
            "project": "default",
            "strategies": self.strategies or [{"name": "default", "parameters": {}}],
            "variants": self.variants,
        }


def with_rollout(key: str, strategies: list[dict[str, Any]], percent: int) -> list[dict[str, Any]]:
    """The strategies with every gradual rollout at `percent` (one added when there is none)."""
    require_percent(percent)
    changed = [
        {**s, "parameters": {**s.get("parameters", {}), "rollout": str(percent)}}
        if s.get("name") == GRADUAL_ROLLOUT
        else s
        for s in strategies
    ]
    if not any(s.get("name") == GRADUAL_ROLLOUT for s in strategies):
        parameters = {"rollout": str(percent), "stickiness": "default", "groupId": key}
        changed.append({"name": GRADUAL_ROLLOUT, "parameters": parameters, "constraints": []})
    return changed


def require_percent(percent: int) -> None:
    """RefusedError unless `percent` is a rollout: 0 to 100."""
    if not 0 <= percent <= 100:
        raise RefusedError(f"a rollout is a percent from 0 to 100, not {percent}")


class FlagProvider(Protocol):
    """Where the flags of one environment live; see the module doc for the contract."""

    def flags(self) -> list[Flag]: ...

    def flag(self, key: str) -> Flag: ...

    def set_enabled(self, key: str, enabled: bool) -> Flag: ...

    def set_rollout(self, key: str, percent: int) -> Flag: ...

    def mark_to_remove(self, key: str) -> Flag: ...

    def client_features(self) -> dict[str, Any]: ...
