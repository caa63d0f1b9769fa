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
from backout.subjects import Subject


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


@dataclass(frozen=True)
class EarlierStep:
    """A step before this one in the run, and what it recorded."""

    position: int
    kind: str
    subject: Subject
    output: dict[str, Any]


@dataclass
class StepContext:
    """What a step may use: the runtime, and where in which run it stands."""

    runtime: Runtime
    run_id: int
    subject: Subject  # what this step acts on
    position: int
    actor: str
    incident_id: int | None
    deadline: float  # on runtime.clock.monotonic()
    recorded_output: dict[str, Any] = field(default_factory=dict)  # e.g. an approval
    earlier: list[EarlierStep] = field(default_factory=list)  # by position, oldest first
    later_kinds: list[str] = field(default_factory=list)  # the kinds of the steps after this one

    @property
    def service(self) -> str:
        """The service this step acts on (its subject's name)."""
        return self.subject.name

    def outputs_of(self, kind: str) -> list[dict[str, Any]]:
        """What every earlier step of `kind` on this step's subject recorded, oldest first."""
        return [e.output for e in self.earlier if e.kind == kind and e.subject == self.subject]

    def find_output(self, kind: str) -> dict[str, Any] | None:
        """What the latest earlier step of `kind` on this step's subject recorded, if any."""
        found = self.outputs_of(kind)
        return found[-1] if found else None

    def output_of(self, kind: str) -> dict[str, Any]:
        """What the latest earlier step of `kind` recorded (e.g. where a restore landed)."""
        found = self.find_output(kind)
        if found is None:
            raise StepFailedError(f"this step needs an earlier {kind!r} step in its plan")
        return found

    def remaining(self) -> float:
        return max(self.deadline - self.runtime.clock.monotonic(), 0.0)


class StepKind(Protocol):
    kind: ClassVar[str]

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome: ...

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None: ...
