"""The Step interface: one action of a plan, safe to run again after a crash.

    run(ctx, params)      act, and return a StepOutcome (succeeded, or skipped with the reason).
                          Raise StepFailedError (retryable or not) when the goal is not reached,
                          AwaitingApprovalError at a gate nobody has approved yet.
    observe(ctx, params)  called instead of run() first when a run is resumed and this step was
                          found `running` (the process died while it acted): look at the world
                          and return the outcome if the step already took effect, or None to
                          have it run again. Read-only.

Every step honours `ctx.remaining()`: waiting steps (health, traffic holds, monitoring) stop
waiting at the step's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from backout.errors import StepFailedError
from backout.runtime import Runtime


@dataclass(frozen=True)
class StepOutcome:
    state: Literal["succeeded", "skipped"]
    message: str
    output: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def done(cls, message: str, **output: Any) -> StepOutcome:
        return cls("succeeded", message, output)

    @classmethod
    def skipped(cls, message: str) -> StepOutcome:
        return cls("skipped", message)


@dataclass
class StepContext:
    """What a step may use: the runtime, and where in which run it stands."""

    runtime: Runtime
    run_id: int
    service: str
    position: int
    actor: str
    incident_id: int | None
    deadline: float  # on runtime.clock.monotonic()
    recorded_output: dict[str, Any] = field(default_factory=dict)  # e.g. an approval
    earlier_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # by step kind

    def output_of(self, kind: str) -> dict[str, Any]:
        """What an earlier step of this run recorded (e.g. where a restore landed)."""
        try:
            return self.earlier_outputs[kind]
        except KeyError:
            raise StepFailedError(f"this step needs an earlier {kind!r} step in its plan") from None

    def remaining(self) -> float:
        return max(self.deadline - self.runtime.clock.monotonic(), 0.0)


class StepKind(Protocol):
    kind: ClassVar[str]

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome: ...

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None: ...
