"""A plan is data: a kind, what it targets, and ordered step specs, stored whole before the first
step runs. Every subject a plan targets or a step acts on is locked by the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backout.subjects import Subject, canonical_order


@dataclass(frozen=True)
class StepSpec:
    kind: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)
    subject: Subject | None = None  # what the step acts on; None: the plan's first target


@dataclass(frozen=True)
class Target:
    """One subject of a plan and what the plan does to it."""

    subject: Subject
    from_version: str | None = None  # a release plan: the release it moves the service from
    to_version: str = ""  # a version, a revision, a moment, "waitlist off"
    # A release plan is made over the release live then; it may only run while that one is.
    live_when_planned: str | None = None


@dataclass(frozen=True)
class Plan:
    kind: str  # application | deploy | database | feature_flag | full
    targets: tuple[Target, ...]
    steps: list[StepSpec]

    @classmethod
    def single(
        cls,
        kind: str,
        subject: Subject,
        steps: list[StepSpec],
        *,
        from_version: str | None = None,
        to_version: str = "",
        live_when_planned: str | None = None,
    ) -> Plan:
        target = Target(subject, from_version, to_version, live_when_planned)
        return cls(kind, (target,), steps)

    @property
    def subject(self) -> Subject:
        """The first target: what the run is listed under."""
        return self.targets[0].subject

    @property
    def from_version(self) -> str | None:
        return self.targets[0].from_version

    @property
    def target_version(self) -> str:
        return self.targets[0].to_version

    @property
    def label(self) -> str:
        """`backend`, `backend, frontend`, `database main`: what a person reads."""
        return ", ".join(target.subject.label for target in self.targets)

    @property
    def aims(self) -> str:
        """`backend to 1.0.0`, `backend to 1.0.0, frontend to 2.3.1`: each target and its aim."""
        return ", ".join(f"{t.subject.label} to {t.to_version}" for t in self.targets)

    def subjects(self) -> list[Subject]:
        """Every subject the run locks: its targets and what its steps act on."""
        acted_on = [spec.subject for spec in self.steps if spec.subject is not None]
        return canonical_order([*(t.subject for t in self.targets), *acted_on])

    def subject_of(self, spec: StepSpec) -> Subject:
        return spec.subject or self.subject

    def describe(self) -> list[str]:
        return [f"{i}. {step.title}" for i, step in enumerate(self.steps, start=1)]
