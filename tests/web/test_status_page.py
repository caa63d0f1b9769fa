"""The public status page over HTTP, with no token: the services as components, an incident
while it is open and resolved after, only what was marked public — and its JSON in the shape
of Statuspage's summary.json (Atlassian's documented example), which Statuspage clients read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from web_support import Api, OpenRuntime, Serve

from backout.incidents import EventKind, add_event, mark_recovered, open_incident, resolve
from backout.runtime import Runtime
from backout.store import Incident, utcnow

SUMMARY_PATHS = ("/status/summary.json", "/api/v2/summary.json")
PRIVATE_NOTE = "db primary pg-7.internal failed over; password in the vault"
PUBLIC_UPDATE = "Bookings fail for some members; we are rolling back."


def open_an_incident(runtime: Runtime, service: str = "api") -> int:
    with runtime.store.session() as session:
        incident = open_incident(
            session,
            environment=runtime.environment,
            service=service,
            title=f"{service} 1.1.0: error rate 30.0% > 5.0% on 10.0.3.7",
            trigger="errors",
            release_id=None,
            rto_s=900.0,
            detected_at=utcnow(),
            impact_started_at=None,
            actor="backout-watch",
            evidence=[{"metric": "error_rate", "value": 0.3, "state": "firing"}],
        )
        add_event(session, incident.id, EventKind.NOTE, PRIVATE_NOTE, actor="alice")
        add_event(session, incident.id, EventKind.PUBLIC_UPDATE, PUBLIC_UPDATE, actor="alice")
        return incident.id


def recover_and_resolve(runtime: Runtime, incident_id: int) -> None:
    with runtime.store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        mark_recovered(session, incident, utcnow(), actor="run")
        resolve(session, incident, "rolled back to 1.0.0 on host web-3", actor="run")


def summary(api: Api, path: str = "/api/v2/summary.json") -> dict[str, Any]:
    answer = api.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body: dict[str, Any] = answer.json()
    return body


def test_an_open_incident_shows_on_the_page_then_resolved(api: Api, runtime: Runtime) -> None:
    assert summary(api)["status"] == {"indicator": "none", "description": "All Systems Operational"}

    incident_id = open_an_incident(runtime)
    while_open = summary(api)
    page = api.get("/status")

    api_component = next(c for c in while_open["components"] if c["name"] == "api")
    assert api_component["status"] == "partial_outage"
    assert while_open["status"]["indicator"] == "major"
    [shown] = while_open["incidents"]
    assert (shown["id"], shown["name"], shown["status"]) == (
        str(incident_id),
        "api: elevated error rates",
        "investigating",
    )
    assert [u["body"] for u in shown["incident_updates"]] == [
        PUBLIC_UPDATE,
        "We are investigating a problem with api.",
    ]
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Partial outage" in page.text
    assert PUBLIC_UPDATE in page.text

    recover_and_resolve(runtime, incident_id)
    after = summary(api)

    assert {c["status"] for c in after["components"]} == {"operational"}
    [resolved] = after["incidents"]
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] is not None
    assert [u["status"] for u in resolved["incident_updates"]] == [
        "resolved",
        "monitoring",
        "investigating",
        "investigating",
    ]
    assert "Resolved" in api.get("/status").text


def test_nothing_internal_reaches_the_page(api: Api, runtime: Runtime) -> None:
    recover_and_resolve(runtime, open_an_incident(runtime))

    for path in ("/status", *SUMMARY_PATHS):
        text = api.get(path).text
        for private in ("pg-7.internal", "vault", "1.1.0", "10.0.3.7", "web-3", "error rate 30"):
            assert private not in text, (path, private)


def test_both_json_paths_answer_the_same_and_revalidate_with_the_etag(
    api: Api, runtime: Runtime
) -> None:
    open_an_incident(runtime)
    first, second = (api.get(path) for path in SUMMARY_PATHS)

    assert first.json() == second.json()
    assert first.headers["cache-control"] == "public, max-age=10"
    again = api.client.get(SUMMARY_PATHS[0], headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
    open_an_incident(runtime, "worker")
    changed = api.client.get(SUMMARY_PATHS[0], headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200
    assert changed.headers["etag"] != first.headers["etag"]


# Atlassian's documented example of GET /api/v2/summary.json (Statuspage's public API page):
# the keys each object has there, which a Statuspage client may read.
DOCUMENTED = {
    "page": {"id", "name", "url", "updated_at"},
    "status": {"description", "indicator"},
    "component": {
        "created_at", "description", "id", "name", "page_id", "position", "status", "updated_at",
    },
    "incident": {
        "created_at", "id", "impact", "incident_updates", "monitoring_at", "name", "page_id",
        "resolved_at", "shortlink", "status", "updated_at",
    },
    "incident_update": {
        "body", "created_at", "display_at", "id", "incident_id", "status", "updated_at",
    },
}  # fmt: skip


def test_the_summary_has_every_field_of_statuspages_documented_example(
    api: Api, runtime: Runtime
) -> None:
    open_an_incident(runtime)

    body = summary(api)

    assert set(body) >= {"page", "status", "components", "incidents", "scheduled_maintenances"}
    assert set(body["page"]) >= DOCUMENTED["page"]
    assert set(body["status"]) >= DOCUMENTED["status"]
    for component in body["components"]:
        assert set(component) >= DOCUMENTED["component"]
    [incident] = body["incidents"]
    assert set(incident) >= DOCUMENTED["incident"]
    for update in incident["incident_updates"]:
        assert set(update) >= DOCUMENTED["incident_update"]
    assert all(
        isinstance(c["id"], str) and isinstance(c["position"], int) for c in body["components"]
    )
    assert isinstance(incident["id"], str)


@pytest.fixture
def with_status_page(open_runtime: OpenRuntime, tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    """Factory: the test config (its releases recorded) with these `status_page:` settings."""
    opened: list[Runtime] = []

    def make(**settings: Any) -> Runtime:
        open_runtime()  # writes the config and records the releases
        path = tmp_path / "backout.yaml"
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        config["status_page"] = settings
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        opened.append(Runtime.open(path))
        return opened[-1]

    yield make
    for runtime in opened:
        runtime.close()


def test_a_status_page_turned_off_is_not_found(
    with_status_page: Callable[..., Runtime], serve: Serve
) -> None:
    api = serve(with_status_page(enabled=False))

    for path in ("/status", *SUMMARY_PATHS):
        answer = api.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"] == "the status page is off"


def test_only_the_services_configured_are_components(
    with_status_page: Callable[..., Runtime], serve: Serve
) -> None:
    runtime = with_status_page(services=["worker"], title="Club status", recent_days=3)
    api = serve(runtime)
    open_an_incident(runtime, "api")

    body = summary(api)

    assert [c["name"] for c in body["components"]] == ["worker"]
    assert body["incidents"] == []  # api is not on the page
    assert body["page"]["name"] == "Club status"


def test_a_resolved_incident_leaves_the_page_after_recent_days(
    with_status_page: Callable[..., Runtime], serve: Serve
) -> None:
    runtime = with_status_page(recent_days=1)
    api = serve(runtime)
    incident_id = open_an_incident(runtime)
    recover_and_resolve(runtime, incident_id)
    assert [i["id"] for i in summary(api)["incidents"]] == [str(incident_id)]

    with runtime.store.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        incident.resolved_at = utcnow() - timedelta(days=1, minutes=1)

    assert summary(api)["incidents"] == []
