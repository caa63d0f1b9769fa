"""The Check interface: one health, integrity or performance check.

    run(timeout)  runs the check once and returns a CheckResult. Read-only and idempotent.
                  It never raises because the target is unhealthy, down or slow: that is a
                  result with ok=False saying what was expected and what came. It returns
                  within `timeout` seconds (plus a small margin).

A check's `name` identifies it in results, run output and reports; its `timeout` (seconds, the
`timeout:` setting every check has) is how long one attempt may take. The health step runs
attempts until all checks pass or the service's `health_timeout` is spent, giving each attempt
its check's `timeout`, or what is left of `health_timeout` when that is less.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol, runtime_checkable

from pydantic import Field

from backout.durations import PositiveDuration
from backout.redact import redact
from backout.registry import PluginSettings

DEFAULT_CHECK_TIMEOUT = timedelta(seconds=10)


class CheckSettings(PluginSettings):
    """Settings every check has."""

    timeout: PositiveDuration = Field(
        DEFAULT_CHECK_TIMEOUT,
        description="How long one attempt of the check may take (the health step tries again "
        "until the service's health_timeout is spent).",
    )


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    expected: str
    observed: str
    duration_s: float

    def sentence(self) -> str:
        """One line for a step's message: what a check saw may quote a secret (a command's
        output, an answer's body), so it is redacted here, where every caller gets it."""
        verdict = "ok" if self.ok else "FAILED"
        return redact(f"{self.name}: {verdict} (expected {self.expected}; got {self.observed})")


@runtime_checkable
class Check(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def timeout(self) -> float:
        """Seconds one attempt may take: the check's `timeout:` setting."""
        ...

    def run(self, timeout: float) -> CheckResult: ...
