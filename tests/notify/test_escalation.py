"""An approval that waits too long asks the next person of the escalation order, once per
step, on the incident's timeline; an outage that lasts too long tells its audience once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from backout.errors import ExitCode
from backout.incidents import mark_recovered
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.store import Incident
from tests.notify.conftest import Mailbox, NotifySite, Receiver, later


def people(receiver: Receiver, mailbox: Mailbox) -> dict[str, Any]:
    return {
        "contacts": [
            {"name": "Ines", "role": "incident-commander", "email": "ines@example.org"},
            {"name": "Lee", "roles": ["lead_developer"], "channels": ["lee-hook"]},
            {"name": "Dee", "roles": ["dba"], "email": "dee@example.org"},
        ],
        "approvals": {"escalate_after": "10m"},
        "notifications": {
            "channels": {"lee-hook": receiver.url("lee"), "status": receiver.url("status")},
            "email": mailbox.url(),
            "audiences": {
                "customers": {"channels": ["status"]},  # the default: an outage over 30m
            },
        },
    }


def test_an_approval_waiting_too_long_escalates_step_by_step(
    nsite: NotifySite, receiver: Receiver, mailbox: Mailbox
) -> None:
    nsite.tell(people(receiver, mailbox))
    gated = start_rollback(nsite.runtime(), RollbackRequest("api", approval_gate=True), actor="t")
    assert gated.execute().exit_code == ExitCode.AWAITING_APPROVAL
    incident = nsite.only_run().incident_id
    assert incident is not None

    assert nsite.deliverer(at=later(9)).deliver_once().escalated == 0
    first = nsite.deliverer(at=later(11)).deliver_once()
    assert (first.escalated, first.sent) == (1, [1])
    assert [m["to"] for m in mailbox.messages] == ["ines@example.org"]
    assert mailbox.messages[0]["subject"] == f"[api] approval needed: run {gated.run_id}"
    assert nsite.deliverer(at=later(12)).deliver_once().escalated == 0, "once per step"

    nsite.deliverer(at=later(21)).deliver_once()

    assert [m["title"] for m in receiver.received] == [f"[api] approval needed: run {gated.run_id}"]
    escalated = [text for kind, text in nsite.timeline(incident) if kind == "escalated"]
    assert len(escalated) == 2
    assert "asking Ines (incident_commander), escalation step 1" in escalated[0]
    assert "asking Lee (lead_developer), escalation step 2" in escalated[1]


def test_a_prolonged_outage_tells_its_audience_once(
    nsite: NotifySite, receiver: Receiver, mailbox: Mailbox
) -> None:
    nsite.tell(people(receiver, mailbox) | {"approvals": {"escalate_after": None}})
    gated = start_rollback(nsite.runtime(), RollbackRequest("api", approval_gate=True), actor="t")
    gated.execute()

    assert nsite.deliverer(at=later(29)).deliver_once().queued == 0
    told = nsite.deliverer(at=later(31)).deliver_once()
    again = nsite.deliverer(at=later(45)).deliver_once()

    assert (told.queued, len(told.sent), again.queued) == (1, 1, 0)
    assert [t[:30] for t in receiver.titles()] == ["[api] outage ongoing for 31m 0"]
    assert nsite.notifications()[0]["moment"] == "outage_longer_than 1800s"


def test_a_recovered_outage_is_not_told_as_ongoing(
    nsite: NotifySite, receiver: Receiver, mailbox: Mailbox
) -> None:
    nsite.tell(people(receiver, mailbox) | {"approvals": {"escalate_after": None}})
    runtime = nsite.runtime()
    gated = start_rollback(runtime, RollbackRequest("api", approval_gate=True), actor="t")
    gated.execute()
    incident_id = nsite.only_run().incident_id
    with runtime.store.session() as session:  # the service came back (monitoring, still open)
        incident = session.get(Incident, incident_id)
        assert incident is not None
        mark_recovered(session, incident, incident.detected_at + timedelta(minutes=5), actor="t")

    told = nsite.deliverer(at=later(31)).deliver_once()

    assert told.queued == 0
    assert receiver.titles() == []


def test_the_outage_message_says_how_long_it_has_lasted_not_ago(
    nsite: NotifySite, receiver: Receiver, mailbox: Mailbox
) -> None:
    nsite.tell(people(receiver, mailbox) | {"approvals": {"escalate_after": None}})
    gated = start_rollback(nsite.runtime(), RollbackRequest("api", approval_gate=True), actor="t")
    gated.execute()

    nsite.deliverer(at=later(31)).deliver_once()

    [told] = receiver.received
    assert "has lasted longer than 30m 00s" in told["message"]
    assert "; the outage has lasted 31m" in told["message"]
    assert " ago" not in told["message"]


def test_a_rollback_waiting_for_approval_is_not_told_as_rolling_back(
    nsite: NotifySite, receiver: Receiver, mailbox: Mailbox
) -> None:
    told = people(receiver, mailbox)
    told["notifications"]["audiences"] = {"team": {"channels": ["lee-hook"]}}
    nsite.tell(told)
    gated = start_rollback(nsite.runtime(), RollbackRequest("api", approval_gate=True), actor="t")
    gated.execute()

    nsite.deliverer().deliver_once()

    titles = receiver.titles()
    assert "[api] rollback 1.1.0 to 1.0.0 awaits approval" in titles, titles
    assert not any(t.startswith("[api] rolling back") for t in titles), titles
