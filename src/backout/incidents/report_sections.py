"""The part of a post-incident report people write — root cause, lessons learned, action items
— kept per incident, and the reminder when it is still unwritten after it was due.

The rest of the report (impact, timeline, objectives, checklist) is read from the incident
itself when the report is rendered (operations/report.py); only what no one but a person can
say is stored here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from backout.errors import RefusedError
from backout.incidents.events import EventKind
from backout.incidents.lifecycle import IncidentStatus
from backout.incidents.timeline import add_event
from backout.limits import MAX_ACTION_ITEM_CHARS, MAX_ACTION_ITEMS, MAX_REPORT_SECTION_CHARS
from backout.redact import redact
from backout.store.tables import incident_reports, incidents


@dataclass(frozen=True)
class ReportSections:
    """What people wrote of an incident's report; empty until someone edits it."""

    root_cause: str | None = None
    lessons: str | None = None
    action_items: list[str] = field(default_factory=list)
    edited_by: str | None = None
    edited_at: datetime | None = None
    reminded_at: datetime | None = None

    @property
    def finished(self) -> bool:
        """A report is finished once its root cause is written (the rest may follow)."""
        return bool(self.root_cause)

    def as_dict(self) -> dict[str, Any]:
        return {
            "root_cause": self.root_cause,
            "lessons": self.lessons,
            "action_items": list(self.action_items),
            "edited_by": self.edited_by,
            "edited_at": self.edited_at.isoformat() if self.edited_at else None,
            "reminded_at": self.reminded_at.isoformat() if self.reminded_at else None,
        }


@dataclass(frozen=True)
class SectionsEdit:
    """What one edit changes: a section left None stays as it was; `action_items`, when
    given, replaces the whole list."""

    root_cause: str | None = None
    lessons: str | None = None
    action_items: Sequence[str] | None = None

    def is_empty(self) -> bool:
        return self.root_cause is None and self.lessons is None and self.action_items is None


def read_sections(db: Session | Connection, incident_id: int) -> ReportSections:
    row = db.execute(
        select(incident_reports).where(incident_reports.c.incident_id == incident_id)
    ).first()
    if row is None:
        return ReportSections()
    return ReportSections(
        root_cause=row.root_cause,
        lessons=row.lessons,
        action_items=list(row.action_items or []),
        edited_by=row.edited_by,
        edited_at=row.edited_at,
        reminded_at=row.reminded_at,
    )


def write_sections(
    session: Session, incident_id: int, edit: SectionsEdit, *, actor: str, at: datetime
) -> ReportSections:
    """Store `edit` over what the incident's report had (redacted, within the size limits)
    and say so on its timeline (report_edited); the sections as they now are."""
    values = _checked(edit)
    values |= {"edited_by": actor, "edited_at": at}
    exists = session.execute(
        select(incident_reports.c.incident_id).where(incident_reports.c.incident_id == incident_id)
    ).first()
    if exists is None:
        session.execute(insert(incident_reports).values(incident_id=incident_id, **values))
    else:
        session.execute(
            update(incident_reports)
            .where(incident_reports.c.incident_id == incident_id)
            .values(**values)
        )
    add_event(
        session, incident_id, EventKind.REPORT_EDITED, _what_changed(edit), actor=actor, at=at
    )
    return read_sections(session, incident_id)


def _checked(edit: SectionsEdit) -> dict[str, Any]:
    if edit.is_empty():
        raise RefusedError(
            "nothing to edit", hint="give a root cause, lessons learned or action items"
        )
    values: dict[str, Any] = {}
    for name in ("root_cause", "lessons"):
        text = getattr(edit, name)
        if text is not None:
            values[name] = _bounded(name.replace("_", " "), text, MAX_REPORT_SECTION_CHARS)
    if edit.action_items is not None:
        if len(edit.action_items) > MAX_ACTION_ITEMS:
            raise RefusedError(
                f"{len(edit.action_items)} action items, at most {MAX_ACTION_ITEMS} are kept"
            )
        items = [_bounded("an action item", i, MAX_ACTION_ITEM_CHARS) for i in edit.action_items]
        values["action_items"] = [item for item in items if item]
    return values


def _bounded(what: str, text: str, limit: int) -> str:
    text = text.strip()
    if len(text) > limit:
        raise RefusedError(f"{what} is {len(text):,} characters long, at most {limit:,}")
    return redact(text)  # a report is read by many: no password pasted from a log stays in it


def _what_changed(edit: SectionsEdit) -> str:
    parts = []
    if edit.root_cause is not None:
        parts.append("root cause")
    if edit.lessons is not None:
        parts.append("lessons learned")
    if edit.action_items is not None:
        parts.append(f"action items ({len(edit.action_items)})")
    return "report edited: " + ", ".join(parts)


def remind_unfinished_reports(
    session: Session, environment: str, *, now: datetime, due_after: timedelta, actor: str
) -> list[int]:
    """One report_reminder on the timeline of each incident of `environment` resolved more
    than `due_after` before `now` whose report has no root cause yet, once per incident
    (`reminded_at` is claimed with the event, in one transaction); the incidents reminded."""
    overdue = (
        select(incidents.c.id, incidents.c.resolved_at, incident_reports.c.incident_id)
        .outerjoin(incident_reports, incident_reports.c.incident_id == incidents.c.id)
        .where(
            incidents.c.environment == environment,
            incidents.c.status == IncidentStatus.RESOLVED,
            incidents.c.resolved_at <= now - due_after,
            incident_reports.c.reminded_at.is_(None),
            (incident_reports.c.root_cause.is_(None)) | (incident_reports.c.root_cause == ""),
        )
        .order_by(incidents.c.id)
    )
    reminded = []
    for incident_id, resolved_at, has_row in session.execute(overdue).all():
        if not _claim(session, incident_id, has_row is not None, now):
            continue  # another controller reminded it meanwhile
        hours = (now - resolved_at).total_seconds() / 3600
        add_event(
            session,
            incident_id,
            EventKind.REPORT_REMINDER,
            f"the post-incident report is unfinished {hours:.0f} h after the incident was "
            f"resolved: write its root cause, lessons and action items "
            f"(backout incident edit {incident_id})",
            actor=actor,
            at=now,
        )
        reminded.append(incident_id)
    return reminded


def _claim(session: Session, incident_id: int, has_row: bool, now: datetime) -> bool:
    """Set the report's `reminded_at` unless it is set: True when this call set it."""
    if has_row:
        claimed = session.execute(
            update(incident_reports)
            .where(
                incident_reports.c.incident_id == incident_id,
                incident_reports.c.reminded_at.is_(None),
            )
            .values(reminded_at=now)
        )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]
    # No report row yet: a concurrent insert of the same key fails the transaction, which
    # the caller's next cycle repeats.
    session.execute(insert(incident_reports).values(incident_id=incident_id, reminded_at=now))
    return True
