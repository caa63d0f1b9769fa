"""Approval escalation: a run that waits at its approval gate too long asks the next person.

A run of a service waiting since T (its latest `awaiting_approval` line, or its creation) is at
escalation step k once it has waited k times `escalate_after` (approvals.escalate_after, or the
service's own): step k tells the k-th contact of `approvals.escalation` (roles and names, each
role standing for its contacts in the order of contacts:). Each step is queued once — its rows
carry a dedupe_key per (run, step, target) — and is on the incident's timeline as `escalated`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout.config import Config, Contact
from backout.incidents import EventKind, add_event
from backout.notify.messages import Message, human
from backout.notify.outbox import GIVEN_UP, PENDING, Queued, insert
from backout.notify.targets import Target, contact_targets
from backout.store import Run, TimelineEvent

ESCALATION_ACTOR = "backout-escalation"
_WAITING = "awaiting_approval"


@dataclass(frozen=True)
class Escalation:
    run_id: int
    step: int
    contact: str


def escalate_waiting_approvals(session: Session, config: Config, now: datetime) -> list[Escalation]:
    """Queue the escalation steps the waiting runs have reached; returns the new ones."""
    order = config.contacts_for(config.approvals.escalation)
    if not order:
        return []
    runs = session.scalars(
        select(Run).where(Run.environment == config.environment, Run.state == _WAITING)
    ).all()
    done = []
    for run in runs:
        after = config.escalate_after(run.service)
        if after is None or after.total_seconds() <= 0:
            continue
        waited = now - _waiting_since(session, run)
        reached = min(int(waited / after), len(order))
        for step in range(1, reached + 1):
            if _escalate(
                session,
                config,
                run,
                step=step,
                contact=order[step - 1],
                waited_s=waited.total_seconds(),
            ):
                done.append(Escalation(run.id, step, order[step - 1].name))
    return done


def _waiting_since(session: Session, run: Run) -> datetime:
    latest = session.scalars(
        select(TimelineEvent.at)
        .where(TimelineEvent.run_id == run.id, TimelineEvent.kind == EventKind.AWAITING_APPROVAL)
        .order_by(TimelineEvent.id.desc())
    ).first()
    return latest or run.created_at


def _escalate(
    session: Session, config: Config, run: Run, *, step: int, contact: Contact, waited_s: float
) -> bool:
    """Queue step `step` of the run's escalation, once; whether it was new."""
    roles = ", ".join(contact.all_roles()) or "contact"
    text = (
        f"run {run.id} of {run.service} has waited {human(waited_s)} for an approval: "
        f"asking {contact.name} ({roles}), escalation step {step}"
    )
    message = Message(
        title=f"[{run.service}] approval needed: run {run.id}",
        body=f"{text}.\nApprove with: backout approve {run.id}",
    )
    targets = contact_targets(config, contact)
    rows = [
        Queued(
            "escalation", f"escalation {step}", t, f"escalation:{run.id}:{step}:{t.key}", message
        )
        for t in targets
    ]
    if not rows:  # the step is still taken once: a row that is never sent marks it
        nobody = Target("none", "nobody")
        key = f"escalation:{run.id}:{step}:none"
        rows, state = [Queued("escalation", f"escalation {step}", nobody, key, message)], GIVEN_UP
    else:
        state = PENDING
    new = insert(
        session, config.environment, rows, incident_id=run.incident_id, run_id=run.id, state=state
    )
    if new and run.incident_id is not None:
        if not targets:
            text += f" — {contact.name} has no channel, e-mail or phone backout can reach"
        add_event(
            session,
            run.incident_id,
            EventKind.ESCALATED,
            text,
            actor=ESCALATION_ACTOR,
            run_id=run.id,
        )
    return bool(new)
