"""The database plans: a schema revert, always behind a fresh backup and a named restore point.

[approval, when the revert loses data or cannot be judged] → backup → restore point
→ revert the schema through the tool's own down path → integrity report
"""

from __future__ import annotations

from backout.db.migrations import RevertPlan
from backout.plans.base import Plan, StepSpec


def database_subject(name: str) -> str:
    """What a database run locks and is listed under: `db:main`, apart from any service name."""
    return f"db:{name}"


def revert_plan(name: str, revert: RevertPlan, *, reason: str) -> Plan:
    steps = schema_revert_steps(name, revert, reason=reason)
    return Plan("database", database_subject(name), revert.from_revision, revert.to_revision, steps)


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
    return steps


def restore_plan(name: str, target: dict[str, str | None], *, reason: str) -> Plan:
    """Restore beside the live data, keep what that copy lacks, and check the copy's integrity."""
    described = ", ".join(f"{k} {v}" for k, v in target.items() if v) or "the newest state"
    steps = [
        StepSpec(
            "db_restore",
            f"Restore {name} to {described}, beside the live data",
            {"database": name, **target},
        ),
        StepSpec(
            "db_lost_writes",
            "Keep what the live data holds and the restored copy does not",
            {"database": name},
        ),
        StepSpec(
            "db_verify",
            "Integrity report of the restored copy",
            {"database": name, "of": "restored"},
        ),
    ]
    return Plan("database", database_subject(name), None, described, steps)
