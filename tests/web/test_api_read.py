"""Reads: services, releases, runs, incidents, with any valid token; JSON errors otherwise."""

from __future__ import annotations

from pathlib import Path

from web_support import Api, Tokens

from backout.operations import views
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.runtime import Runtime


def test_services_show_what_is_live_and_what_was_last_good(api: Api, tokens: Tokens) -> None:
    answer = api.get("/api/v1/services", tokens.viewer)

    assert answer.status_code == 200
    statuses = {s["service"]: s for s in answer.json()}
    assert set(statuses) == {"api", "worker"}
    assert statuses["api"]["tier"] == "critical"
    assert statuses["api"]["live_version"] == "1.1.0"
    assert statuses["api"]["live_status"] == "live"
    assert statuses["api"]["last_known_good"] == "1.0.0"
    assert statuses["api"]["active_runs"] == []
    assert statuses["api"]["open_incidents"] == []


def test_releases_of_a_service_are_listed_newest_first(api: Api, tokens: Tokens) -> None:
    answer = api.get("/api/v1/services/api/releases", tokens.viewer)

    assert answer.status_code == 200
    assert [(r["version"], r["status"]) for r in answer.json()] == [
        ("1.1.0", "live"),
        ("1.0.0", "good"),
    ]
    assert answer.json()[0]["created_by"] == "test"


def test_an_unknown_service_is_404_listing_the_known_ones(api: Api, tokens: Tokens) -> None:
    for path in ("/api/v1/services/nope/releases", "/api/v1/runs?service=nope"):
        answer = api.get(path, tokens.viewer)

        assert answer.status_code == 404, path
        assert answer.json() == {
            "error": "unknown service 'nope'",
            "hint": "services in the config: api, worker",
            "exit_code": 4,
        }


def test_an_unknown_run_or_incident_is_404(api: Api, tokens: Tokens) -> None:
    run = api.get("/api/v1/runs/999", tokens.viewer)
    incident = api.get("/api/v1/incidents/999", tokens.viewer)

    assert (run.status_code, run.json()["error"]) == (404, "there is no run 999")
    assert (incident.status_code, incident.json()["error"]) == (404, "there is no incident 999")


def test_nothing_has_run_or_happened_yet(api: Api, tokens: Tokens) -> None:
    assert api.get("/api/v1/runs", tokens.viewer).json() == []
    assert api.get("/api/v1/incidents", tokens.viewer).json() == []


def test_an_invalid_query_is_422_in_the_same_json_shape(api: Api, tokens: Tokens) -> None:
    answer = api.get("/api/v1/runs?limit=0", tokens.viewer)

    assert answer.status_code == 422
    body = answer.json()
    assert body["error"].startswith("invalid request: query.limit:")
    assert body["exit_code"] == 2


def test_an_unknown_path_is_404_in_the_same_json_shape(api: Api) -> None:
    answer = api.get("/api/v1/nothing-here")

    assert answer.status_code == 404
    assert answer.json() == {"error": "Not Found", "hint": None, "exit_code": 2}


def test_a_failing_driver_shows_in_its_service_and_hides_nothing_else(
    api: Api, runtime: Runtime, tokens: Tokens, tmp_path: Path
) -> None:
    state = tmp_path / ".backout" / "drivers" / "api" / "fake.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("{not json", encoding="utf-8")

    answer = api.get("/api/v1/services", tokens.viewer)

    assert answer.status_code == 200
    services = {s["service"]: s for s in answer.json()}
    service = services.pop("api")
    assert services, "the other services are still listed"
    assert all(s["running"] != "unknown" for s in services.values())
    assert service["running"] == "unknown"
    assert service["detail"].startswith("status unavailable:")
    assert "fake driver's state" in service["detail"]
    assert "Traceback" not in answer.text


def test_openapi_lists_every_route_with_a_summary(api: Api) -> None:
    answer = api.get("/openapi.json")

    assert answer.status_code == 200
    paths = answer.json()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert routes == {
        ("GET", "/healthz"),
        ("GET", "/api/v1/services"),
        ("GET", "/api/v1/services/{service}/releases"),
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/runs/{run_id}"),
        ("GET", "/api/v1/incidents"),
        ("GET", "/api/v1/incidents/{incident_id}"),
        ("GET", "/api/v1/incidents/{incident_id}/metrics"),
        ("GET", "/api/v1/incidents/{incident_id}/report"),
        ("PATCH", "/api/v1/incidents/{incident_id}/report"),
        ("GET", "/status"),
        ("GET", "/status/summary.json"),
        ("GET", "/api/v2/summary.json"),
        ("GET", "/api/v1/watch"),
        ("POST", "/api/v1/services/{service}/rollback"),
        ("POST", "/api/v1/runs/{run_id}/approve"),
        ("POST", "/api/v1/runs/{run_id}/abort"),
        ("POST", "/api/v1/incidents/{incident_id}/status"),
        ("POST", "/api/v1/incidents/{incident_id}/notes"),
        ("POST", "/api/v1/incidents/{incident_id}/checklist/{item}"),
        ("GET", "/api/v1/flags"),
        ("GET", "/api/v1/flags/{key}"),
        ("POST", "/api/v1/flags/{key}/disable"),
        ("POST", "/api/v1/flags/{key}/enable"),
        ("POST", "/api/v1/flags/{key}/rollout"),
        ("POST", "/api/v1/alerts/alertmanager"),
        ("POST", "/api/v1/services/{service}/security"),
        ("GET", "/metrics"),
    }
    for path, ops in paths.items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method} {path} has no summary"
    assert api.get("/docs").status_code == 200


def test_an_incidents_metrics_are_its_series_and_moments(
    api: Api, tokens: Tokens, runtime: Runtime
) -> None:
    done = start_rollback(runtime, RollbackRequest("api", reason="errors"), actor="t").execute()
    incident_id = views.run_detail(runtime, done.run_id)["incident_id"]
    runtime.metric_history.note("api", {"error_rate": 0.25, "latency_p95": None})

    answer = api.get(f"/api/v1/incidents/{incident_id}/metrics", tokens.viewer)
    unknown = api.get("/api/v1/incidents/999/metrics", tokens.viewer)

    assert answer.status_code == 200
    body = answer.json()
    assert [m["label"] for m in body["marks"]][:2] == ["detected", "rollback started"]
    [series] = body["series"]
    assert (series["metric"], series["unit"], series["thresholds"]) == (
        "error_rate",
        "fraction",
        [],  # opened by a person: no trigger's threshold
    )
    assert [value for _, value in series["points"]] == [0.25]
    assert (unknown.status_code, unknown.json()["error"]) == (404, "there is no incident 999")
