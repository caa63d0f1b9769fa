"""Notifications are queued with the event that causes them and sent after it commits, in
order, per target; a dead target slows no rollback, its failures are on the timeline, and it
is told once it answers again."""

from __future__ import annotations

import re
import time
from typing import Any

from backout.errors import ExitCode
from backout.incidents import IncidentStatus
from backout.operations.incidents import set_status
from backout.operations.rollback import RollbackRequest, abort_run, start_rollback
from tests.notify.conftest import Mailbox, NotifySite, Receiver, later

MOMENTS = ["detected", "rollback_started", "rollback_finished", "resolved"]


def team(receiver: Receiver, mailbox: Mailbox | None = None, **more: Any) -> dict[str, Any]:
    """The team told at each moment through a webhook, and its devops contact by e-mail."""
    notifications: dict[str, Any] = {
        "channels": {"team-hook": receiver.url()},
        "audiences": {"team": {"channels": ["team-hook"], "roles": ["devops"]}},
        "retry_after": "10s",
        **more,
    }
    if mailbox is not None:
        notifications["email"] = mailbox.url()
    return {
        "contacts": [{"name": "Dana", "role": "devops", "email": "dana@example.org"}],
        "notifications": notifications,
    }


def roll_back(site: NotifySite) -> tuple[int, float]:
    """A rollback of api to its end; its incident and how long it took."""
    started = time.monotonic()
    result = start_rollback(site.runtime(), RollbackRequest("api"), actor="tester").execute()
    assert result.exit_code == ExitCode.OK, result.message
    incident = site.only_run().incident_id
    assert incident is not None
    return incident, time.monotonic() - started


def test_each_moment_is_told_in_order_by_webhook_and_e_mail(
    nsite: NotifySite, receiver: Receiver, mailbox: Mailbox
) -> None:
    nsite.tell(team(receiver, mailbox))
    incident, _ = roll_back(nsite)
    assert receiver.received == [], "nothing is sent on the run's path"
    queued = nsite.notifications()
    assert [(n["moment"], n["state"]) for n in queued if n["target"].startswith("channel")] == [
        (moment, "pending") for moment in MOMENTS
    ]

    report = nsite.deliverer().deliver_once()

    assert len(report.sent) == 8
    assert not report.failed
    titles = receiver.titles()
    assert len(titles) == 4
    assert titles[0].startswith(f"[api] incident {incident}:")
    assert titles[1] == "[api] rolling back 1.1.0 to 1.0.0"
    assert "succeeded" in titles[2]
    assert titles[3] == f"[api] resolved: incident {incident}"
    assert "time to recover:" in receiver.received[3]["message"]
    assert [m["to"] for m in mailbox.messages] == ["dana@example.org"] * 4
    assert [m["subject"] for m in mailbox.messages] == titles
    sent = [text for kind, text in nsite.timeline(incident) if kind == "notification_sent"]
    assert len(sent) == 8
    assert sent[0].startswith("told team through team-hook (json): [api] incident")
    assert any(text.startswith("told team through Dana by e-mail") for text in sent)
    assert nsite.deliverer().deliver_once().sent == [], "each is sent once"


def test_a_pass_asked_to_stop_finishes_the_send_under_way_and_claims_no_more(
    nsite: NotifySite, receiver: Receiver
) -> None:
    nsite.tell(team(receiver))
    roll_back(nsite)

    report = nsite.deliverer().deliver_once(should_stop=lambda: len(receiver.received) >= 1)

    assert len(report.sent) == 1
    states = [n["state"] for n in nsite.notifications()]
    assert states == ["sent", "pending", "pending", "pending"], "none is left half-sent"


def test_a_dead_target_slows_no_rollback_and_is_told_once_it_answers(
    nsite: NotifySite, receiver: Receiver
) -> None:
    receiver.stop()
    nsite.tell(team(receiver))
    incident, took_s = roll_back(nsite)
    assert took_s < 10, "the rollback never waits for a target"

    first = nsite.deliverer().deliver_once()

    assert first.failed == [1]
    assert first.sent == [], "the target's later ones wait their turn"
    row = nsite.notifications()[0]
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert "Connection" in row["last_error"]
    failed = [text for kind, text in nsite.timeline(incident) if kind == "notification_failed"]
    assert len(failed) == 1
    assert "attempt 1/8; retried in" in failed[0]
    assert nsite.deliverer().deliver_once().failed == [], "not tried again before its back-off"

    receiver.start()
    assert nsite.deliverer(at=later(1)).deliver_once().sent == [1, 2, 3, 4]

    assert [t.split(" ")[1] for t in receiver.titles()][:2] == ["incident", "rolling"]
    assert [n["state"] for n in nsite.notifications()] == ["sent"] * 4


def test_a_target_that_never_answers_is_given_up_after_max_attempts(
    nsite: NotifySite, receiver: Receiver
) -> None:
    receiver.stop()
    nsite.tell(team(receiver, max_attempts=2))
    incident, _ = roll_back(nsite)

    nsite.deliverer().deliver_once()
    last = nsite.deliverer(at=later(5)).deliver_once()

    assert last.given_up == [1]
    assert nsite.notifications()[0]["state"] == "given_up"
    failed = [text for kind, text in nsite.timeline(incident) if kind == "notification_failed"]
    assert failed[-1].endswith("(given up after 2 attempts)")
    assert nsite.deliverer(at=later(5)).deliver_once().failed == [2], "the next one is tried"


def test_an_incident_a_person_resolves_tells_its_audience_once(
    nsite: NotifySite, receiver: Receiver
) -> None:
    nsite.tell(team(receiver))
    runtime = nsite.runtime()
    gated = start_rollback(runtime, RollbackRequest("api", approval_gate=True), actor="t")
    gated.execute()
    abort_run(runtime, gated.run_id, "ines@example.org", "restarted 1.0.0 by hand instead")
    incident = nsite.only_run().incident_id
    assert incident is not None

    set_status(
        runtime, incident, IncidentStatus.RESOLVED, actor="ines@example.org", message="fixed"
    )
    nsite.deliverer().deliver_once()

    assert receiver.titles()[-1] == f"[api] resolved: incident {incident}"
    assert [n["moment"] for n in nsite.notifications()].count("resolved") == 1
    assert ("resolved", "fixed") in nsite.timeline(incident)


def test_notify_list_says_when_each_was_sent(nsite: NotifySite, receiver: Receiver) -> None:
    nsite.tell(team(receiver))
    roll_back(nsite)
    nsite.deliverer().deliver_once()

    listed = nsite.backout("notify", "list")

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 4
    assert all(re.match(r"\s*\d+ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d sent ", line) for line in lines)
