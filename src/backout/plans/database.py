"""The database plans: a schema revert, always behind a fresh backup and a named restore point,
a restore (beside the live data, into a named database, or in place), and a reset.

[approval, when the revert loses data or cannot be judged] → backup → restore point
→ revert the schema through the tool's own down path → integrity report

reset: a fresh backup, checked → drop every user schema → every migration again → integrity
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from backout.db.migrations import MigrationStatus, RevertPlan
from backout.db.reset import ResetScope
from backout.plans.base import Plan, StepSpec
from backout.subjects import Subject


def revert_plan(name: str, revert: RevertPlan, *, reason: str) -> Plan:
    steps = schema_revert_steps(name, revert, reason=reason)
    return Plan.single(
        "database",
        Subject.database(name),
        steps,
        from_version=revert.from_revision,
        to_version=revert.to_revision,
    )


def schema_revert_steps(name: str, revert: RevertPlan, *, reason: str) -> list[StepSpec]:
    """[approval when it loses data] → backup → restore point → revert → integrity.

    Shared by the database plan and the application plan of a service whose target release
    expects an older schema.
    """
    steps: list[StepSpec] = []
    if revert.needs_approval:
        lost = [loss.sentence() for loss in revert.losses()]
        lost += [item.sentence() for item in revert.unclassified()]
        steps.append(
            StepSpec(
                "approve",
                "Approval: the revert loses data",
                {
                    "role": "approver",
                    "question": f"revert {name} to {revert.to_revision}? It " + "; ".join(lost),
                },
            )
        )
    revisions = [step.revision for step in revert.steps]
    steps += [
        StepSpec(
            "db_backup", f"Back up {name} before the revert", {"database": name, "reason": reason}
        ),
        StepSpec(
            "db_restore_point",
            "Create a named restore point",
            {"database": name, "label": f"before-revert-to-{revert.to_revision}"},
        ),
        StepSpec(
            "db_revert",
            f"Revert the schema of {name} to {revert.to_revision} ({len(revisions)} migration(s))",
            {"database": name, "to": revert.to_revision, "revisions": revisions},
        ),
        StepSpec("db_verify", f"Integrity report of {name}", {"database": name}),
    ]
    database = Subject.database(name)  # in an application plan too, they lock the database
    return [replace(step, subject=database) for step in steps]


@dataclass(frozen=True)
class RestorePlacement:
    """Where a restore lands: beside the live data (default), as a named database on the live
    server (`into`), or in the live database's place (`in_place`)."""

    into: str | None = None
    in_place: bool = False

    def __post_init__(self) -> None:
        if self.into is not None and self.in_place:
            raise ValueError("a restore goes into a new database or in place, not both")


def restore_plan(
    name: str,
    target: dict[str, str | None],
    *,
    reason: str,
    placement: RestorePlacement,
    side_cluster: bool,
) -> Plan:
    """Restore, keep what the restored state lacks, and check the restored data's integrity.

    Beside: restore → lost writes (live vs copy) → integrity of the copy.
    In place: restore → [load the side cluster's copy onto the live server] → a fresh, checked
    backup of the live data → switch (the live data kept whole under another name) → lost
    writes (kept vs live) → integrity of the live database.
    """
    described = ", ".join(f"{k} {v}" for k, v in target.items() if v) or "the newest state"
    where = (
        "in place"
        if placement.in_place
        else (f"into {placement.into}" if placement.into else "beside the live data")
    )
    restore_params: dict[str, str | None] = {"database": name, **target}
    if placement.into and not side_cluster:
        restore_params["into"] = placement.into
    steps = [StepSpec("db_restore", f"Restore {name} to {described}, {where}", restore_params)]
    if side_cluster and (placement.into or placement.in_place):
        steps.append(
            StepSpec(
                "db_copy_in",
                "Load the restored copy onto the live server",
                {"database": name, "into": placement.into},
            )
        )
    if placement.in_place:
        steps += [
            StepSpec(
                "db_backup",
                f"Back up {name} as it is now, and check the backup",
                {
                    "database": name,
                    "reason": f"before restoring in place: {reason}",
                    "verify": True,
                },
            ),
            StepSpec(
                "db_switch",
                f"Switch {name} over to the restored copy, keeping the data as it was",
                {"database": name},
            ),
        ]
    steps += [
        StepSpec(
            "db_lost_writes",
            "Keep what the data held before and the restored copy does not",
            {"database": name},
        ),
        StepSpec(
            "db_verify",
            f"Integrity report of the {'live database' if placement.in_place else 'restored copy'}",
            {"database": name} if placement.in_place else {"database": name, "of": "restored"},
        ),
    ]
    return Plan.single("database", Subject.database(name), steps, to_version=described)


def reset_plan(name: str, scope: ResetScope, status: MigrationStatus, *, reason: str) -> Plan:
    """What `prisma migrate reset --force` does, behind a fresh backup that is checked first."""
    revisions = [m.revision for m in (*status.applied, *status.pending)]
    newest = revisions[-1] if revisions else "(no migration)"
    steps = [
        StepSpec(
            "db_backup",
            f"Back up {name} before the reset, and check the backup",
            {"database": name, "reason": f"before a reset: {reason}", "verify": True},
        ),
        StepSpec(
            "db_reset",
            f"Drop every schema of {scope.dbname} "
            f"({len(scope.tables)} table(s), {scope.rows} row(s)) and make public again",
            {"database": name, "dbname": scope.dbname},
        ),
        StepSpec(
            "db_upgrade",
            f"Apply every migration from nothing ({len(revisions)}, up to {newest})",
            {"database": name, "revisions": revisions},
        ),
        StepSpec("db_verify", f"Integrity report of {name}", {"database": name}),
    ]
    return Plan.single(
        "database", Subject.database(name), steps, from_version=status.head, to_version=newest
    )
