"""The runbook asks for a post-incident report within 24 hours: when a resolved incident's report
is still unwritten when due, the reminder on its timeline tells the team (its default rules),
or whichever audience a `report_reminder` rule names — once."""

from __future__ import annotations

from typing import Any

from backout.clock import ManualClock
from backout.operations.report import remind_now
from backout.runtime import Runtime
from tests.notify.conftest import NotifySite, Receiver, later
from tests.notify.test_delivery import roll_back, team


def remind(site: NotifySite, hours: float) -> list[int]:
    """The watch loop's check for unwritten reports, `hours` from now."""
    runtime = Runtime.open(site.config_path, clock=ManualClock(later(hours * 60)))
    try:
        return remind_now(runtime)
    finally:
        runtime.close()


def reminded_a_day_later(site: NotifySite) -> int:
    """A rollback resolved now, and the report reminder 25 h later."""
    incident, _ = roll_back(site)
    assert remind(site, 25) == [incident]
    return incident


def test_the_team_is_reminded_of_an_unwritten_report_once(
    nsite: NotifySite, receiver: Receiver
) -> None:
    nsite.tell(team(receiver))

    incident = reminded_a_day_later(nsite)
    nsite.deliverer(at=later(25 * 60)).deliver_once()
    assert remind(nsite, 50) == []
    nsite.deliverer(at=later(50 * 60)).deliver_once()

    assert receiver.titles()[-1] == f"[api] the report of incident {incident} is due"
    assert f"backout incident edit {incident}" in receiver.received[-1]["message"]
    moments = [n["moment"] for n in nsite.notifications()]
    assert moments.count("report_reminder") == 1


def test_a_rule_sends_the_reminder_to_the_audience_it_names(
    nsite: NotifySite, receiver: Receiver
) -> None:
    rules: list[dict[str, Any]] = [
        {"when": "report_reminder", "title": "report {{ incident_id }} is late ({{ service }})"}
    ]
    nsite.tell(
        {
            "notifications": {
                "channels": {"leads": receiver.url("leads")},
                "audiences": {"leads": {"channels": ["leads"], "rules": rules}},
            }
        }
    )

    incident = reminded_a_day_later(nsite)
    nsite.deliverer(at=later(25 * 60)).deliver_once()

    assert receiver.titles() == [f"report {incident} is late (api)"], "told only of the reminder"
