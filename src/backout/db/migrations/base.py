"""The MigrationAdapter interface: read a schema's migration state, revert it safely, and apply it
from nothing again (a reset).

    status()             applied and pending migrations, and the current head. Read-only, quick.
    revert_plan(to)      the down steps that bring the schema back to revision `to` (newest first),
                         each with its SQL, and what they would destroy (see DataLoss), or what
                         could not be judged (see Unclassified). Read-only: it counts rows in a
                         read-only transaction, it changes nothing; as slow as a count(*) of the
                         tables and columns a step drops. UnknownRevisionError for a revision the
                         tool does not know; MigrationError for one that is not applied (revert
                         only goes down). `to` may be BASE: revert every migration.
    revert(plan)         apply the plan's down steps in order, each in its own transaction together
                         with its record in the tool's own bookkeeping (alembic_version,
                         _prisma_migrations, backout_schema_migrations), so the tool itself sees
                         the truth afterwards. Idempotent and resumable per step: the head is read
                         again before each step, a step already reverted is skipped, and a head
                         that is not on the plan's path (someone migrated meanwhile) is refused.
                         A failing step is rolled back whole; the steps before it stay reverted.
                         Each step waits at most `lock_timeout` for its table locks, so a revert
                         never queues behind a long transaction and stalls the application.
    upgrade()            apply every pending migration, oldest first, through the tool's own up
                         path, with its record in the tool's bookkeeping; returns the revisions it
                         applied. Idempotent and resumable: an applied revision is skipped, so a
                         second call applies nothing. Atomic per migration at least (Alembic's
                         generated env.py runs them all in one transaction); a failing migration
                         is rolled back whole. As slow as the migrations themselves.

Errors: MigrationError (retryable when a lock could not be had in time), translated from the
tool's and the database's errors; UnavailableError when the database cannot be reached.

Every adapter is built by a Registry factory `(settings, context)`; the context must be the
DbPluginContext of backout.db.context (shared by every database plug-in: the usual
PluginContext plus the Database; paths in settings are relative to the config file's folder,
`context.resolve(path)`). `migration_adapter_for(config, name)` builds one from the config.
Building has no side effects.

Safety of classification: a statement whose effect on data cannot be told (UPDATE, a column
type change, DROP SCHEMA, a DO block, anything new) is listed as Unclassified rather than
ignored, and `RevertPlan.needs_approval` is true for it exactly as for a counted data loss: an
unknown is treated as a possible loss, never as a safe step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from pydantic import Field

from backout.db.connection import Database
from backout.db.context import DbPluginContext
from backout.durations import Duration
from backout.errors import NotFoundError, StepFailedError
from backout.registry import PluginContext, PluginSettings

BASE = "base"  # the revision before the first migration: revert_plan(BASE) reverts them all


class MigrationError(StepFailedError):
    """A migration could not be read or reverted."""


class UnknownRevisionError(NotFoundError):
    def __init__(self, revision: str, known: list[str]) -> None:
        super().__init__(
            f"unknown revision {revision!r}",
            hint=f"known revisions: {', '.join(known) or '(none)'}",
        )


def database_of(context: PluginContext) -> Database:
    """The Database a migration adapter works on; a plain PluginContext is a programming error."""
    return DbPluginContext.of(context, "a migration adapter").database


class MigrationSettings(PluginSettings):
    """Settings every migration adapter has."""

    lock_timeout: Duration = Field(
        timedelta(seconds=30),
        description="How long a down step may wait for a table lock before it fails (retryable), "
        "so that a revert never queues behind a long transaction and blocks the application.",
    )


@dataclass(frozen=True)
class Migration:
    revision: str
    name: str
    applied_at: datetime | None  # None: pending, or applied by a tool that keeps no time (Alembic)


@dataclass(frozen=True)
class MigrationStatus:
    head: str | None  # the newest applied revision; None on an empty schema
    applied: list[Migration]  # oldest first
    pending: list[Migration]  # oldest first
    failed: list[Migration] = field(default_factory=list)  # started, never finished (Prisma)


@dataclass(frozen=True)
class DataLoss:
    """Something a down step drops, and how many rows hold data there.

    kind: "table" | "column" (rows_with_data: rows, or rows where the column is not null);
    "rows" (TRUNCATE, DELETE: the rows it removes); "constraint" | "index" | "view" |
    "sequence" | "type" | "function" ... (reported, but 0 rows: no row data is lost).
    """

    kind: str
    target: str  # "bookings.waitlist_position", "bookings", "bookings WHERE id > 3"
    rows_with_data: int

    def sentence(self) -> str:
        if self.kind == "rows":
            return f"deletes {self.rows_with_data} rows from {self.target}"
        if self.kind in {"table", "column"}:
            return f"drops {self.kind} {self.target} ({self.rows_with_data} rows hold data)"
        return f"drops {self.kind} {self.target} (no row data)"


@dataclass(frozen=True)
class Unclassified:
    """A statement of a down step whose effect on data could not be told: treat as a loss."""

    sql: str
    reason: str

    def sentence(self) -> str:
        first_line = self.sql.strip().splitlines()[0] if self.sql.strip() else ""
        shown = first_line if len(first_line) <= 80 else first_line[:77] + "..."
        return f"not classified: {shown} ({self.reason})"


@dataclass(frozen=True)
class RevertStep:
    revision: str
    name: str
    sql: str  # what runs (Alembic: its offline rendering of the Python downgrade)
    losses: list[DataLoss] = field(default_factory=list)
    unclassified: list[Unclassified] = field(default_factory=list)


@dataclass(frozen=True)
class RevertPlan:
    from_revision: str | None
    to_revision: str
    steps: list[RevertStep]  # newest first: the order they run in

    @property
    def loses_data(self) -> bool:
        return any(loss.rows_with_data > 0 for step in self.steps for loss in step.losses)

    @property
    def needs_approval(self) -> bool:
        """Counted data would be lost, or some statement could not be judged."""
        return self.loses_data or bool(self.unclassified())

    def losses(self) -> list[DataLoss]:
        return [loss for step in self.steps for loss in step.losses]

    def unclassified(self) -> list[Unclassified]:
        return [item for step in self.steps for item in step.unclassified]

    def revision_after(self, step: RevertStep) -> str:
        """The revision the schema is at once `step` is reverted."""
        index = self.steps.index(step)
        return self.steps[index + 1].revision if index + 1 < len(self.steps) else self.to_revision


@runtime_checkable
class MigrationAdapter(Protocol):
    def status(self) -> MigrationStatus: ...

    def revert_plan(self, to: str) -> RevertPlan: ...

    def revert(self, plan: RevertPlan) -> None: ...

    def upgrade(self) -> list[str]: ...


def resolve_revision(wanted: str, known: list[str]) -> str:
    """`wanted` as written, BASE, or a unique prefix of a known revision; else UnknownRevision."""
    if wanted == BASE or wanted in known:
        return wanted
    matches = [revision for revision in known if revision.startswith(wanted)]
    if len(matches) == 1 and wanted:
        return matches[0]
    raise UnknownRevisionError(wanted, known)


def steps_still_to_run(plan: RevertPlan, head: str | None) -> list[RevertStep]:
    """The plan's steps not reverted yet, given the schema's head now (None: empty schema).

    MigrationError when the head is not on the plan's path: the schema moved since the plan was
    made, and running it could revert the wrong migrations.
    """
    path = [step.revision for step in plan.steps] + [plan.to_revision]
    here = BASE if head is None else head
    if here not in path:
        raise MigrationError(
            f"the schema is at {here}, which is not on the plan's path "
            f"({' → '.join(path)}): it changed since the plan was made",
            hint="make a new plan: backout db revert shows it before it runs",
        )
    return plan.steps[path.index(here) :]
