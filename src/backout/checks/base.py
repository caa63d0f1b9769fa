"""The Check interface: one health, integrity or performance check.

    run(timeout)  runs the check once and returns a CheckResult. Read-only and idempotent.
                  It never raises because the target is unhealthy, down or slow: that is a
                  result with ok=False saying what was expected and what came. It returns
                  within `timeout` seconds (plus a small margin).

A check's `name` identifies it in results, run output and reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    expected: str
    observed: str
    duration_s: float

    def sentence(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return f"{self.name}: {verdict} (expected {self.expected}; got {self.observed})"


@runtime_checkable
class Check(Protocol):
    @property
    def name(self) -> str: ...

    def run(self, timeout: float) -> CheckResult: ...
