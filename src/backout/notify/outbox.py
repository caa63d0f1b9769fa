"""The outbox: notifications queued in the transaction of the event that causes them.

`Outbox.on_event` is the timeline hook (incidents.TIMELINE_HOOK, installed by the runtime on
its store's sessions): every timeline event is looked at as `add_event` writes it, and one row
per (event, audience, target) is inserted beside it — committed with the event, or not at all,
so a crash between the event and its sending loses nothing, and a deliverer (delivery.py) sends
it after the commit. Why a hook and not a call at each place that writes an event: the moments
people are told of (detected, a rollback started or finished, resolved) are written by the
incidents, the executor and the watch loop; one hook covers them all, and whoever writes a new
event kind later cannot forget to notify.

Once-only moments (detected, resolved, an outage longer than a rule's duration, an escalation
step) carry a `dedupe_key` per incident and rule, unique in the table: a second detection that
joins an open incident, or two controllers evaluating the same outage, queue nothing more.
Inserts are `ON CONFLICT DO NOTHING`, so a duplicate never breaks the caller's transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backout.config import Config
from backout.config.notifications import NotificationRule
from backout.incidents import EventKind, IncidentStatus
from backout.notify.messages import Message, compose, human, incident_facts
from backout.notify.targets import Target, audience_targets
from backout.store import Incident, Release, Run, Store, TimelineEvent, tables, utcnow

log = logging.getLogger(__name__)

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"  # the last try failed; tried again at next_attempt_at
UNSENT = (PENDING, SENDING, FAILED)  # still to be sent (given up is an end, like sent)
GIVEN_UP = "given_up"

# Which timeline events are which moment of a rule.
_MOMENTS: dict[str, str] = {
    EventKind.DETECTED: "detected",
    EventKind.RUN_PLANNED: "rollback_started",
    EventKind.RUN_SUCCEEDED: "rollback_finished",
    EventKind.RUN_FAILED: "rollback_finished",
    EventKind.RUN_ABORTED: "rollback_finished",
    EventKind.RESOLVED: "resolved",
    EventKind.REPORT_REMINDER: "report_reminder",
}
_ONCE_PER_INCIDENT = frozenset({"detected", "resolved", "report_reminder"})
_NOT_ROLLBACKS = frozenset({"deploy"})  # runs whose start and end are not a rollback's


@dataclass(frozen=True)
class Queued:
    """One notification to queue: what, to whom, and its key of uniqueness."""

    audience: str
    moment: str
    target: Target
    dedupe_key: str
    message: Message


class Outbox:
    """Queues the notifications of a config; `on_event` is the timeline hook."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def on_event(self, session: Session, event: TimelineEvent) -> None:
        moment = _MOMENTS.get(event.kind)
        if moment is None or not self.config.notifications.audiences:
            return
        # Never fail the event's own transaction (a rollback's step): a notification that
        # cannot be queued is logged, and the event stands.
        try:
            with session.no_autoflush:
                self._queue_for_event(session, event, moment)
        except Exception:
            log.exception("could not queue the notifications of timeline event %s", event.id)

    def _queue_for_event(self, session: Session, event: TimelineEvent, moment: str) -> None:
        run = session.get(Run, event.run_id) if event.run_id is not None else None
        if moment.startswith("rollback_") and (run is None or run.kind in _NOT_ROLLBACKS):
            return
        incident = session.get(Incident, event.incident_id)
        if incident is None:
            return
        facts = incident_facts(
            incident,
            now=utcnow(),
            event=event.message,
            versions=_versions(session, run),
            url=self.config.notifications.url,
            awaiting_approval=moment == "rollback_started" and _gated(run),
        )
        queued = []
        for audience, index, rule in self._rules(lambda r: r.when == moment):
            once = (
                f"{moment}:{incident.id}" if moment in _ONCE_PER_INCIDENT else f"event:{event.id}"
            )
            where = f"notifications.audiences.{audience}.rules[{index}]"
            message = compose(rule, facts, where)
            queued += [
                Queued(audience, moment, t, f"{once}:{audience}:{t.key}", message)
                for t in audience_targets(self.config, audience)
            ]
        insert(
            session,
            self.config.environment,
            queued,
            incident_id=incident.id,
            event_id=event.id,
            run_id=event.run_id,
        )

    def _rules(
        self, wanted: Callable[[NotificationRule], bool]
    ) -> Iterable[tuple[str, int, NotificationRule]]:
        settings = self.config.notifications
        for audience in settings.audiences:
            for index, rule in enumerate(settings.rules_of(audience)):
                if wanted(rule):
                    yield audience, index, rule

    def queue_prolonged_outages(self, session: Session, now: datetime) -> int:
        """Queue the `outage_longer_than` rules that open incidents have outlasted, once per
        incident and rule; returns how many notifications were queued."""
        rules = list(self._rules(lambda r: r.outage_longer_than is not None))
        if not rules:
            return 0
        open_incidents = session.scalars(
            select(Incident).where(
                Incident.environment == self.config.environment,
                Incident.status != IncidentStatus.RESOLVED,
            )
        ).all()
        queued = 0
        for incident in open_incidents:
            if incident.recovered_at is not None:
                continue  # recovered (monitoring): the outage is over, whatever its status
            started = incident.impact_started_at or incident.detected_at
            for audience, index, rule in rules:
                limit = rule.outage_longer_than
                if limit is None or now - started <= limit:
                    continue
                longer = human(limit.total_seconds())
                event = f"the outage of {incident.service} has lasted longer than {longer}"
                facts = incident_facts(
                    incident, now=now, event=event, url=self.config.notifications.url
                )
                message = compose(rule, facts, f"notifications.audiences.{audience}.rules[{index}]")
                rows = [
                    Queued(
                        audience,
                        rule.moment,
                        t,
                        f"outage:{incident.id}:{audience}:{index}:{t.key}",
                        message,
                    )
                    for t in audience_targets(self.config, audience)
                ]
                queued += insert(session, self.config.environment, rows, incident_id=incident.id)
        return queued


def _gated(run: Run | None) -> bool:
    """Whether the run waits for a person's approval before it acts: it is not rolling back yet."""
    return run is not None and any(step.kind == "approve" for step in run.steps)


def _versions(session: Session, run: Run | None) -> tuple[str | None, str | None]:
    if run is None:
        return None, None

    def version(release_id: int | None) -> str | None:
        release = session.get(Release, release_id) if release_id is not None else None
        return release.version if release is not None else None

    return version(run.from_release_id), version(run.target_release_id) or run.target


def insert(
    session: Session,
    environment: str,
    queued: list[Queued],
    *,
    incident_id: int | None,
    event_id: int | None = None,
    run_id: int | None = None,
    state: str = PENDING,
) -> int:
    """Insert the rows, skipping those whose dedupe_key is taken; returns how many were new."""
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now, added = time.time(), 0
    for item in queued:
        statement = (
            make(tables.notifications)
            .values(
                environment=environment,
                incident_id=incident_id,
                event_id=event_id,
                run_id=run_id,
                audience=item.audience,
                moment=item.moment,
                target=item.target.key,
                dedupe_key=item.dedupe_key[:255],
                title=item.message.title,
                body=item.message.body,
                state=state,
                attempts=0,
                next_attempt_at=now,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        )
        added += session.execute(statement).rowcount or 0  # type: ignore[attr-defined]
    return added


def recent_notifications(store: Store, limit: int) -> list[dict[str, Any]]:
    """The newest notifications, newest first, as plain rows (no URL is ever stored)."""
    n = tables.notifications
    columns = [n.c.id, n.c.incident_id, n.c.audience, n.c.moment, n.c.target, n.c.title]
    columns += [n.c.state, n.c.attempts, n.c.last_error, n.c.created_at, n.c.sent_at]
    with store.connection() as connection:
        rows = connection.execute(select(*columns).order_by(n.c.id.desc()).limit(limit))
        return [dict(row._mapping) for row in rows]


def counts_by_state(store: Store) -> dict[str, int]:
    """How many notifications are in each state (states without any are left out)."""
    n = tables.notifications
    with store.connection() as connection:
        rows = connection.execute(select(n.c.state, func.count()).group_by(n.c.state))
        return {state: count for state, count in rows}
