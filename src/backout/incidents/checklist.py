"""The runbook's rollback checklist, as data, and where each item stands on an incident.

Each item is either checked by backout itself — recorded when it happens: a step of one of the
incident's runs succeeded, or an event reached its timeline — or confirmed by a person
(`backout incident confirm ID ITEM`: a `checklist_confirmed` line, with who). A person may
also confirm an item backout checks, when it happened outside backout (a backup taken by hand).

An item only a person confirms is asked for at its point of the runbook (`asked`): those
before and during the rollback at its approval gate (`backout approve RUN --confirm ITEM`,
recorded with the approval), the later ones by `incident show` and the report until someone
confirms them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout.errors import NotFoundError
from backout.incidents.events import EventKind
from backout.store import TimelineEvent


class Phase(StrEnum):
    PRE = "pre"
    DURING = "during"
    POST = "post"
    FOLLOW_UP = "follow_up"


@dataclass(frozen=True)
class Check:
    """What checks an item by itself: a step of this kind succeeded, or an event of this kind
    reached the timeline; `says` is how backout tells it ("previous version deployed")."""

    says: str
    step: str | None = None
    event: EventKind | None = None


@dataclass(frozen=True)
class ChecklistItem:
    id: str  # what `backout incident confirm ID ITEM` takes
    phase: Phase
    title: str
    text: str
    check: Check | None = None  # None: only a person can confirm it

    @property
    def asked(self) -> str | None:
        """When a person is asked to confirm it (None: backout checks it)."""
        return None if self.check is not None else _ASKED[self.phase]


# Where the runbook's person-only items are asked for: before the rollback acts, the gate a
# person approves it at; after it, whoever reads the incident or writes its report.
GATE_PHASES = frozenset({Phase.PRE, Phase.DURING})
_ASKED = {
    Phase.PRE: "before the rollback acts (at its approval gate, if any)",
    Phase.DURING: "before the rollback acts (at its approval gate, if any)",
    Phase.POST: "once the service is recovered",
    Phase.FOLLOW_UP: "after the incident, with its report",
}


def _phase(phase: Phase, *items: tuple[str, str, str, Check | None]) -> list[ChecklistItem]:
    return [ChecklistItem(id_, phase, title, text, check) for id_, title, text, check in items]


_PERSON = None  # only a person can confirm it

# The runbook's "Rollback Checklist": (id, its bold words, its line, what checks it).
CHECKLIST: tuple[ChecklistItem, ...] = (
    *_phase(
        Phase.PRE,
        (
            "decision_made",
            "Decision made",
            "Rollback approved by incident commander",
            Check("a gated step was approved", event=EventKind.APPROVED),
        ),
        (
            "backup_taken",
            "Backup taken",
            "Current state backed up",
            Check("a backup was taken", step="db_backup"),
        ),
        (
            "team_notified",
            "Team notified",
            "All relevant teams informed",
            Check("a notification was delivered", event=EventKind.NOTIFICATION_SENT),
        ),
        ("communication_prepared", "Communication plan", "User communication prepared", _PERSON),
    ),
    *_phase(
        Phase.DURING,
        (
            "traffic_stopped",
            "Traffic stopped",
            "Users routed away from affected system",
            Check("traffic drained", step="drain"),
        ),
        (
            "previous_version",
            "Previous version",
            "Correct version identified and ready",
            Check("previous version deployed", step="deploy"),
        ),
        (
            "database_backup",
            "Database backup",
            "Recent backup available and tested",
            Check("a backup was restored", step="db_restore"),
        ),
        (
            "runbook_followed",
            "Runbook followed",
            "Step-by-step procedures executed",
            Check("a run of the plan succeeded", event=EventKind.RUN_SUCCEEDED),
        ),
    ),
    *_phase(
        Phase.POST,
        (
            "health_verified",
            "Health verified",
            "All health checks passing",
            Check("health checks passing", event=EventKind.RECOVERED),
        ),
        (
            "data_integrity",
            "Data integrity",
            "Data verified and intact",
            Check("integrity verified", step="db_verify"),
        ),
        (
            "traffic_restored",
            "Traffic restored",
            "Users gradually routed back",
            Check("traffic restored", step="restore_traffic"),
        ),
        (
            "monitoring_active",
            "Monitoring active",
            "Enhanced monitoring for 24 hours",
            Check("the monitoring window passed", step="monitor"),
        ),
        ("incident_report", "Incident report", "Detailed report prepared", _PERSON),
    ),
    *_phase(
        Phase.FOLLOW_UP,
        ("root_cause", "Root cause", "Analysis completed", _PERSON),
        ("improvements", "Improvements", "Process improvements identified", _PERSON),
        ("documentation", "Documentation", "Procedures updated", _PERSON),
        ("training", "Training", "Team training conducted if needed", _PERSON),
    ),
)


def asked_at_gate() -> list[ChecklistItem]:
    """The items only a person confirms that come before or during the rollback: what an
    approval gate asks for."""
    return [item for item in CHECKLIST if item.check is None and item.phase in GATE_PHASES]


def still_asked_at_gate(session: Session, incident_id: int) -> list[ChecklistItem]:
    """The gate's items (asked_at_gate) the incident has not had confirmed yet."""
    done = confirmed_items(session, incident_id)
    return [item for item in asked_at_gate() if item.id not in done]


def confirmed_items(session: Session, incident_id: int) -> set[str]:
    """The ids of the items a person confirmed on the incident (its checklist_confirmed lines)."""
    evidence = session.scalars(
        select(TimelineEvent.evidence).where(
            TimelineEvent.incident_id == incident_id,
            TimelineEvent.kind == EventKind.CHECKLIST_CONFIRMED,
        )
    )
    return {item for e in evidence if (item := confirmed_item(e)) is not None}


def confirmed_item(evidence: list[dict[str, Any]] | None) -> str | None:
    """The item id a checklist_confirmed line's evidence names, if it names one."""
    first = (evidence or [{}])[0]
    item = first.get("item") if isinstance(first, dict) else None
    return item if isinstance(item, str) else None


def checklist_item(item_id: str) -> ChecklistItem:
    """The item by its id; NotFoundError listing the ids otherwise."""
    for item in CHECKLIST:
        if item.id == item_id:
            return item
    raise NotFoundError(
        f"there is no checklist item {item_id!r}",
        hint=f"items: {', '.join(i.id for i in CHECKLIST)}",
    )


@dataclass(frozen=True)
class Happened:
    """Something recorded on the incident: a timeline event, or a step of one of its runs that
    succeeded (`kind` is the event's or the step's kind)."""

    kind: str
    at: datetime
    actor: str
    is_step: bool = False
    item: str | None = None  # a checklist_confirmed event's item


@dataclass(frozen=True)
class ItemState:
    item: ChecklistItem
    done: bool
    by: str | None = None  # who checked or confirmed it
    at: datetime | None = None
    how: str | None = None  # "confirmed", or what backout saw

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.item.id,
            "phase": self.item.phase.value,
            "title": self.item.title,
            "text": self.item.text,
            "checked_by_backout": self.item.check is not None,
            "checked_when": self.item.check.says if self.item.check is not None else None,
            "asked": self.item.asked,
            "done": self.done,
            "by": self.by,
            "at": self.at.isoformat() if self.at is not None else None,
            "how": self.how,
        }


def checklist_state(happened: Iterable[Happened]) -> list[ItemState]:
    """Every item, in the runbook's order, done by the first thing that checked or confirmed it."""
    ordered = sorted(happened, key=lambda h: h.at)
    return [_state_of(item, ordered) for item in CHECKLIST]


def _state_of(item: ChecklistItem, ordered: list[Happened]) -> ItemState:
    for h in ordered:
        if h.kind == EventKind.CHECKLIST_CONFIRMED and h.item == item.id:
            return ItemState(item, True, h.actor, h.at, "confirmed")
        if item.check is not None and _checks(item.check, h):
            return ItemState(item, True, h.actor, h.at, item.check.says)
    return ItemState(item, False)


def _checks(check: Check, h: Happened) -> bool:
    if h.is_step:
        return check.step == h.kind
    return check.event is not None and check.event == h.kind
