"""A plan is data: a kind, a target, and ordered step specs, stored whole before the first step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepSpec:
    kind: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    kind: str  # application | database | feature_flag | full
    service: str
    from_version: str | None
    target_version: str
    steps: list[StepSpec]
    # A release plan is made over the release live then; it may only run while that one is.
    planned_while_live: str | None = None

    def describe(self) -> list[str]:
        return [f"{i}. {step.title}" for i, step in enumerate(self.steps, start=1)]
