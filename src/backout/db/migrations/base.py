"""The MigrationAdapter interface: read a schema's migration state and revert it, safely.

    status()             applied and pending migrations, and the current head. Read-only.
    revert_plan(to)      the down steps that bring the schema back to revision `to`, each with
                         its SQL, and what they would destroy (see DataLoss). Read-only: it
                         counts rows, it changes nothing. UnknownRevisionError for a revision
                         the tool does not know.
    revert(plan)         apply the plan's down steps in order, each in its own transaction, and
                         record each in the tool's own bookkeeping (alembic_version,
                         _prisma_migrations ...) so the tool itself sees the truth afterwards.
                         Idempotent per step: a step already reverted is skipped.

Errors: MigrationError, translated from the tool's and the database's errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from backout.errors import NotFoundError, StepFailedError


class MigrationError(StepFailedError):
    """A migration could not be read or reverted."""


class UnknownRevisionError(NotFoundError):
    def __init__(self, revision: str, known: list[str]) -> None:
        super().__init__(
            f"unknown revision {revision!r}",
            hint=f"known revisions: {', '.join(known) or '(none)'}",
        )


@dataclass(frozen=True)
class Migration:
    revision: str
    name: str
    applied_at: datetime | None  # None: pending


@dataclass(frozen=True)
class MigrationStatus:
    head: str | None  # the newest applied revision; None on an empty schema
    applied: list[Migration]
    pending: list[Migration]


@dataclass(frozen=True)
class DataLoss:
    """Something a down step drops, and how many rows hold data there."""

    kind: str  # "table" | "column" | "constraint" | "index"
    target: str  # "bookings.waitlist_position"
    rows_with_data: int

    def sentence(self) -> str:
        return f"drops {self.kind} {self.target} ({self.rows_with_data} rows hold data)"


@dataclass(frozen=True)
class RevertStep:
    revision: str
    name: str
    sql: str
    losses: list[DataLoss] = field(default_factory=list)


@dataclass(frozen=True)
class RevertPlan:
    from_revision: str | None
    to_revision: str
    steps: list[RevertStep]

    @property
    def loses_data(self) -> bool:
        return any(loss.rows_with_data > 0 for step in self.steps for loss in step.losses)

    def losses(self) -> list[DataLoss]:
        return [loss for step in self.steps for loss in step.losses]


@runtime_checkable
class MigrationAdapter(Protocol):
    def status(self) -> MigrationStatus: ...

    def revert_plan(self, to: str) -> RevertPlan: ...

    def revert(self, plan: RevertPlan) -> None: ...
