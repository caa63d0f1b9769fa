"""`backout status`: per service its tier, live version, last known good, open incidents and
the runs under way — as a table, or as JSON for a script."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

FIELDS = {"service", "tier", "live_version", "last_known_good", "open_incidents", "active_runs"}


def test_status_of_services_with_nothing_deployed(backout: Backout) -> None:
    services = backout.ok("status", "--json").json()

    assert all(s.keys() >= FIELDS for s in services)
    assert [
        (s["service"], s["tier"], s["live_version"], s["last_known_good"], s["active_runs"])
        for s in services
    ] == [("api", "critical", None, None, []), ("web", "core", None, None, [])]


def test_status_names_the_live_version_and_the_last_known_good(live_api: Backout) -> None:
    api = live_api.ok("status", "--json").json()[0]

    assert (api["live_version"], api["live_status"], api["last_known_good"]) == (
        "1.1.0",
        "live",
        "1.0.0",
    )
    assert (api["open_incidents"], api["active_runs"]) == ([], [])


def test_status_lists_the_run_under_way_and_its_open_incident(live_api: Backout) -> None:
    run_id = live_api.rollback_waiting_for_approval()

    api = live_api.ok("status", "--json").json()[0]
    table = live_api.ok("status").stdout

    assert (api["open_incidents"], api["active_runs"]) == ([1], [run_id])
    assert "api" in table
    assert "critical" in table
    assert "1.1.0" in table
    assert "1.0.0" in table


def test_status_after_a_rollback_shows_what_the_driver_runs(live_api: Backout) -> None:
    live_api.rolled_back()

    api = live_api.ok("status", "--json").json()[0]

    assert api["live_version"] == "1.0.0"
    assert api["running"] == "running"
    assert api["detail"].startswith("fake: 1.0.0 deployed at")
