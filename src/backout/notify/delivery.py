"""The deliverer: sends what the outbox queued, after it committed, off every run's path.

One pass (`deliver_once`, what `backout notify deliver` runs from cron, and what the
controller's notification thread runs each second) queues the prolonged-outage rules and the
approval escalations that are due, then sends each target's oldest unsent notification that is
due — a target's notifications go out in the order they were queued; one waiting for its retry
holds back the later ones of that target, not those of others.

Claiming: a row is taken by `UPDATE ... SET state='sending', attempts=attempts+1, claimed_by,
lease_until WHERE id=? AND state=<as read> AND attempts=<as read>` — one claimer wins on
SQLite as on PostgreSQL, so two processes never send one twice. A claimer that dies mid-send
leaves its row `sending` until its lease lapses; then another sends it again (at least once,
in that one window: the target may have had it). The outcome is written only by the holder of
the claim, with a timeline line per attempt: `notification_sent`, or `notification_failed`
with the next try (exponential back-off with jitter) or that it was given up after
`max_attempts`.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from backout.config import Config
from backout.errors import BackoutError
from backout.incidents import EventKind, add_event
from backout.notify.escalation import escalate_waiting_approvals
from backout.notify.outbox import FAILED, GIVEN_UP, SENDING, SENT, UNSENT, Outbox
from backout.notify.sender import SendFailed, send
from backout.notify.targets import label_of, url_of
from backout.redact import redact
from backout.store import Store, tables, utcnow
from backout.store.leases import this_process

log = logging.getLogger(__name__)

NOTIFY_ACTOR = "backout-notify"
CLAIM_LEASE_S = 120.0  # longer than a send may take (notifications.timeout, twice, and some)
_HEADS_READ = 1000  # unsent rows read per pass to find each target's oldest
_T = tables.notifications


@dataclass(frozen=True)
class Claimed:
    id: int
    target: str
    audience: str
    title: str
    body: str
    attempts: int
    incident_id: int | None
    run_id: int | None


@dataclass
class PassReport:
    """What one pass did."""

    queued: int = 0
    escalated: int = 0
    sent: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    given_up: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.sent)} sent, {len(self.failed)} failed (to retry), "
            f"{len(self.given_up)} given up; {self.queued} outage notifications and "
            f"{self.escalated} escalations queued"
        )


class Deliverer:
    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        holder: str | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.holder = holder or this_process()
        self.outbox = Outbox(config)
        self.now = now or (lambda: datetime.now(UTC))  # the tests' clock moves on its own

    def deliver_once(self, should_stop: Callable[[], bool] = lambda: False) -> PassReport:
        """Queue what is due, then send every target's oldest due notification, in turn;
        `should_stop`: claim no more once it is true (the one being sent is finished)."""
        report = PassReport()
        now = self.now()
        with self.store.session() as session:
            report.queued = self.outbox.queue_prolonged_outages(session, now)
            report.escalated = len(escalate_waiting_approvals(session, self.config, now))
        sent_to: set[str] = set()
        while not should_stop():
            claimed = self._claim_next(exclude=sent_to)
            if claimed is None:
                return report
            sent_to.discard(claimed.target)  # its next one may follow in this pass
            outcome = self._send(claimed)
            if outcome is None:
                report.sent.append(claimed.id)
            else:
                (report.given_up if outcome == GIVEN_UP else report.failed).append(claimed.id)
                sent_to.add(claimed.target)  # a failed target waits for its retry
        return report

    def _claim_next(self, exclude: set[str]) -> Claimed | None:
        now = self.now().timestamp()
        with self.store.session() as session:
            for row in _due_heads(session, now):
                if row.target in exclude:
                    continue
                claimed = session.execute(
                    update(_T)
                    .where(
                        _T.c.id == row.id, _T.c.state == row.state, _T.c.attempts == row.attempts
                    )
                    .values(
                        state=SENDING,
                        attempts=row.attempts + 1,
                        claimed_by=self.holder,
                        lease_until=now + CLAIM_LEASE_S,
                    )
                ).rowcount  # type: ignore[attr-defined]
                if claimed:
                    return Claimed(
                        row.id, row.target, row.audience, row.title, row.body,
                        row.attempts + 1, row.incident_id, row.run_id,
                    )  # fmt: skip
        return None

    def _send(self, claimed: Claimed) -> str | None:
        """Send one; record the outcome. None when sent, else the state it was left in."""
        settings = self.config.notifications
        label = f"{claimed.audience} through {label_of(self.config, claimed.target)}"
        try:
            url = url_of(self.config, claimed.target)
            send(url, claimed.title, claimed.body, timeout_s=settings.timeout.total_seconds())
        except (SendFailed, BackoutError) as failure:
            reason = failure.reason if isinstance(failure, SendFailed) else failure.message
            return self._failed(claimed, label, redact(reason))
        with self.store.session() as session:
            if self._finish(session, claimed, state=SENT, sent_at=utcnow(), last_error=None):
                self._timeline(
                    session, claimed, EventKind.NOTIFICATION_SENT, f"told {label}: {claimed.title}"
                )
        log.info("notification %s: told %s", claimed.id, label)
        return None

    def _failed(self, claimed: Claimed, label: str, reason: str) -> str:
        settings = self.config.notifications
        if claimed.attempts >= settings.max_attempts:
            state, then = GIVEN_UP, f"given up after {claimed.attempts} attempts"
            next_at = self.now().timestamp()
        else:
            state, wait = FAILED, backoff(claimed.attempts, settings.retry_after.total_seconds(),
                                          settings.retry_at_most.total_seconds())  # fmt: skip
            then = f"attempt {claimed.attempts}/{settings.max_attempts}; retried in {wait:.0f}s"
            next_at = self.now().timestamp() + wait
        with self.store.session() as session:
            if self._finish(
                session, claimed, state=state, next_attempt_at=next_at, last_error=reason
            ):
                text = f"could not tell {label}: {reason} ({then})"
                self._timeline(session, claimed, EventKind.NOTIFICATION_FAILED, text)
        log.warning("notification %s: could not tell %s: %s (%s)", claimed.id, label, reason, then)
        return state

    def _finish(self, session: Session, claimed: Claimed, **values: object) -> bool:
        """Write the outcome if the claim is still ours (not taken over after its lease)."""
        done = session.execute(
            update(_T)
            .where(
                _T.c.id == claimed.id,
                _T.c.state == SENDING,
                _T.c.claimed_by == self.holder,
                _T.c.attempts == claimed.attempts,
            )
            .values(lease_until=None, **values)
        ).rowcount  # type: ignore[attr-defined]
        return bool(done)

    def _timeline(self, session: Session, claimed: Claimed, kind: EventKind, text: str) -> None:
        if claimed.incident_id is not None:
            add_event(
                session, claimed.incident_id, kind, text, actor=NOTIFY_ACTOR, run_id=claimed.run_id
            )


def _due_heads(session: Session, now: float) -> list[Row[Any]]:
    """Each target's oldest unfinished notification, if it is due (or its claim lapsed)."""
    rows = session.execute(
        select(_T).where(_T.c.state.in_(UNSENT)).order_by(_T.c.id).limit(_HEADS_READ)
    ).all()
    heads: dict[str, Row[Any]] = {}
    for row in rows:
        heads.setdefault(row.target, row)
    return [
        row
        for row in heads.values()
        if (row.state == SENDING and (row.lease_until or 0) < now)
        or (row.state != SENDING and row.next_attempt_at <= now)
    ]


def backoff(attempts: int, first_s: float, at_most_s: float) -> float:
    """The wait after `attempts` failed tries: doubling from `first_s`, capped, ±20% jitter
    (so that targets failing together are not all retried at the same moment)."""
    wait = min(first_s * 2 ** max(attempts - 1, 0), at_most_s)
    return float(wait * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not a secret


def notifies(config: Config) -> bool:
    """Whether the config tells anyone anything (audiences, or contacts an approval escalates
    to): a controller without runs no notification thread."""
    settings = config.notifications
    escalates = config.approvals.escalate_after is not None or any(
        s.escalate_after is not None for s in config.services.values()
    )
    reachable = any(c.channels or c.email or c.phone for c in config.contacts)
    return bool(settings.audiences) or (escalates and reachable)


class NotificationLoop:
    """The controller's notification thread: a pass each `interval_s` until `stop` is set.
    Off the watch loop's thread, so that a slow or dead target slows no detection and no run."""

    def __init__(
        self, deliverer: Deliverer, stop: threading.Event, interval_s: float = 1.0
    ) -> None:
        self.deliverer = deliverer
        self.stop = stop
        self.interval_s = interval_s
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._turn, name="notifications", daemon=True)
            self._thread.start()

    def join(self, timeout_s: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _turn(self) -> None:
        while not self.stop.is_set():
            try:
                self.deliverer.deliver_once(should_stop=self.stop.is_set)
            except Exception:
                log.exception("a notification pass failed; trying again in %ss", self.interval_s)
            self.stop.wait(self.interval_s)
