"""An incident that outlasts its RTO: its recovery is marked missed (in `incident show`, the API's
view and the report) and the audiences told of prolonged outages are told, with the objective
it missed, once."""

from __future__ import annotations

from typing import Any

from backout.clock import ManualClock
from backout.errors import ExitCode
from backout.operations import views
from backout.operations.report import ReportFormat, render_report
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.runtime import Runtime
from tests.notify.conftest import Mailbox, NotifySite, Receiver, later

RTO_S = 1800.0  # the site's api is a core service: 30 minutes


def told_of_a_long_outage(receiver: Receiver, mailbox: Mailbox) -> dict[str, Any]:
    """Customers by the status channel (the runbook's default: an outage over 30 minutes), and
    a product owner by e-mail, by a rule of their own."""
    long_outage = [
        {
            "outage_longer_than": "30m",
            "title": "{{ service }}: still down after {{ elapsed }}",
            "template": "Down since {{ impact_started_at or detected_at }} (RTO {{ rto }}).",
        }
    ]
    return {
        "contacts": [{"name": "Pat", "role": "product", "email": "pat@example.org"}],
        "approvals": {"escalate_after": None},
        "notifications": {
            "channels": {"status": receiver.url("status")},
            "email": mailbox.url(),
            "audiences": {
                "customers": {"channels": ["status"]},
                "stakeholders": {"roles": ["product"], "rules": long_outage},
            },
        },
    }


def an_outage_waiting_for_a_decision(site: NotifySite) -> int:
    """A rollback parked at its gate, which nobody approves: the outage goes on."""
    gated = start_rollback(site.runtime(), RollbackRequest("api", approval_gate=True), actor="t")
    assert gated.execute().exit_code == ExitCode.AWAITING_APPROVAL
    incident = site.only_run().incident_id
    assert incident is not None
    return incident


def seen_at(site: NotifySite, minutes: float, incident: int) -> tuple[dict[str, Any], str]:
    """The incident as `incident show` and its report see it, `minutes` from now."""
    runtime = Runtime.open(site.config_path, clock=ManualClock(later(minutes)))
    try:
        detail = views.incident_detail(runtime, incident)
        return detail, render_report(runtime, incident, ReportFormat.MD)
    finally:
        runtime.close()


def time_to_recover(detail: dict[str, Any]) -> tuple[float, bool | None]:
    found = next(o for o in detail["objectives"] if o["name"] == "time_to_recover")
    return found["objective_s"], found["met"]


def test_an_outage_past_its_rto_is_marked_missed_and_its_audiences_told(
    nsite: NotifySite, receiver: Receiver, mailbox: Mailbox
) -> None:
    nsite.tell(told_of_a_long_outage(receiver, mailbox))
    incident = an_outage_waiting_for_a_decision(nsite)

    before, _ = seen_at(nsite, 29, incident)
    nsite.deliverer(at=later(29)).deliver_once()
    assert receiver.received == [], "not yet past the 30 minutes"
    after, report = seen_at(nsite, 31, incident)
    told = nsite.deliverer(at=later(31)).deliver_once()
    again = nsite.deliverer(at=later(45)).deliver_once()

    assert time_to_recover(before) == (RTO_S, None)
    assert time_to_recover(after) == (RTO_S, False)
    objectives = report.split("## Objectives")[1].split("## Timeline")[0]
    assert "| time to recover | 30m" in objectives
    assert "missed" in objectives
    assert (told.queued, len(told.sent), again.queued) == (2, 2, 0)
    [title] = receiver.titles()  # 31 minutes after a detection a moment before "now"
    assert title.startswith("[api] outage ongoing for 31m 0")
    assert "Not recovered within its RTO of 30m 00s: missed." in receiver.received[0]["message"]
    [mail] = mailbox.messages
    assert mail["to"] == "pat@example.org"
    assert mail["subject"].startswith("api: still down after 31m 0")
    assert "(RTO 30m 00s)" in nsite.notifications()[1]["body"]
