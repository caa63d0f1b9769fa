"""`backout incidents` and `backout incident show ID`: every rollback belongs to an incident
whose timeline says what happened, and whose recovery is measured against the RTO."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

NOT_FOUND = 4


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback port that accepts connections: what a `tcp` health check wants to see."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_a_rollback_opens_an_incident_with_its_timeline(live_api: Backout) -> None:
    live_api.rolled_back(reason="checkout 500s")

    [incident] = live_api.ok("incidents", "--json").json()
    detail = live_api.ok("incident", "show", str(incident["id"]), "--json").json()

    assert (incident["service"], incident["title"], incident["trigger"]) == (
        "api",
        "api 1.1.0: checkout 500s",
        "manual",
    )
    assert incident["rto_s"] == 900.0  # a critical service's 15 minutes
    kinds = [event["kind"] for event in detail["timeline"]]
    assert kinds[:2] == ["detected", "run_planned"]
    assert kinds[-3:] == ["run_succeeded", "resolved", "status_changed"]
    assert "step_started" in kinds
    assert incident["status"] == "resolved"
    assert incident["time_to_recover_s"] is not None
    assert {event["actor"] for event in detail["timeline"]} == {"alice@test"}


def test_incident_show_prints_the_timeline(live_api: Backout) -> None:
    live_api.rolled_back(reason="checkout 500s")

    shown = live_api.ok("incident", "show", "1").stdout
    listing = live_api.ok("incidents").stdout

    assert "incident 1 (resolved, errors): api 1.1.0: checkout 500s" in shown
    assert "(RTO 900.0s)" in shown
    assert "run_planned" in shown
    assert "application rollback of api to 1.0.0 succeeded" in shown
    assert "api 1.1.0: checkout 500s" in listing


def test_a_rollback_verified_by_health_checks_resolves_its_incident_in_time(
    live_api: Backout, listening_port: int
) -> None:
    api = live_api.service()
    api["health"] = [{"type": "tcp", "port": listening_port}]
    live_api.write(api=api, web=live_api.service("core"))
    live_api.rolled_back()

    detail = live_api.ok("incident", "show", "1", "--json").json()

    assert detail["status"] == "resolved"
    assert 0 <= detail["time_to_recover_s"] < detail["rto_s"]
    kinds = [event["kind"] for event in detail["timeline"]]
    assert kinds.index("recovered") < kinds.index("run_succeeded") < kinds.index("resolved")
    assert live_api.status()["open_incidents"] == []


def test_incidents_is_empty_before_anything_happened(backout: Backout) -> None:
    assert backout.ok("incidents", "--json").json() == []


def test_incident_show_of_an_unknown_incident_is_not_found(backout: Backout) -> None:
    backout("incident", "show", "5").refused(NOT_FOUND, "there is no incident 5")
