"""Rollbacks, approvals and aborts over the API: runs go on in the server, as the token."""

from __future__ import annotations

from sqlalchemy import select
from web_support import Api, OpenRuntime, Serve, Tokens

from backout.operations import views
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.operations.tokens import Role, create_token
from backout.runs.records import RunState
from backout.runtime import Runtime
from backout.store import AuditEntry

ROLLBACK = "/api/v1/services/api/rollback"


def start_rollback_to_run(api: Api, token: str, **body: object) -> dict[str, object]:
    answer = api.post(ROLLBACK, token, json={"reason": "errors after 1.1.0", **body})
    assert answer.status_code == 202, answer.text
    accepted: dict[str, object] = answer.json()
    return accepted


def park_a_run_at_its_gate(runtime: Runtime) -> int:
    """A rollback with an approval gate, executed until it waits for a person."""
    request = RollbackRequest(service="api", reason="trigger fired", approval_gate=True)
    run = start_rollback(runtime, request, actor="test")
    assert run.execute().state is RunState.AWAITING_APPROVAL
    return run.run_id


def audit_trail(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.store.session() as session:
        rows = session.execute(select(AuditEntry.actor, AuditEntry.action).order_by(AuditEntry.id))
        return [(actor, action) for actor, action in rows]


def test_a_rollback_goes_on_in_the_server_until_the_last_good_version_is_live(
    api: Api, tokens: Tokens
) -> None:
    accepted = start_rollback_to_run(api, tokens.operator)

    assert accepted["state"] == "planned"
    assert isinstance(accepted["incident_id"], int)
    run = api.wait_for_run(int(str(accepted["run_id"])), tokens.viewer)
    assert run["state"] == "succeeded", run
    assert (run["from_version"], run["to_version"]) == ("1.1.0", "1.0.0")
    assert run["actor"] == "token:operator"
    assert {s["state"] for s in run["steps"]} <= {"succeeded", "skipped"}
    statuses = {s["service"]: s for s in api.get("/api/v1/services", tokens.viewer).json()}
    assert statuses["api"]["live_version"] == "1.0.0"
    assert statuses["api"]["active_runs"] == []
    assert statuses["worker"]["live_version"] == "1.1.0"


def test_the_run_and_its_incident_are_readable_with_every_field_of_the_views(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    accepted = start_rollback_to_run(api, tokens.operator)
    run_id, incident_id = int(str(accepted["run_id"])), int(str(accepted["incident_id"]))
    api.wait_for_run(run_id, tokens.viewer)

    assert api.get(f"/api/v1/runs/{run_id}", tokens.viewer).json() == views.run_detail(
        runtime, run_id
    )
    assert api.get("/api/v1/runs", tokens.viewer).json() == views.list_runs(runtime)
    assert api.get(
        f"/api/v1/incidents/{incident_id}", tokens.viewer
    ).json() == views.incident_detail(runtime, incident_id)
    assert api.get("/api/v1/incidents", tokens.viewer).json() == views.list_incidents(runtime)
    assert api.get("/api/v1/services/api/releases", tokens.viewer).json() == (
        views.release_history(runtime, "api")
    )


def test_a_dry_run_answers_the_plan_and_changes_nothing(api: Api, tokens: Tokens) -> None:
    answer = api.post(ROLLBACK, tokens.operator, json={"reason": "check", "dry_run": True})

    assert answer.status_code == 200
    plan = answer.json()
    assert (plan["service"], plan["from_version"], plan["to_version"]) == ("api", "1.1.0", "1.0.0")
    assert [s["kind"] for s in plan["steps"]] == [
        "drain",
        "deploy",
        "health",
        "restore_traffic",
        "monitor",
        "mark_release",
    ]
    assert plan["description"][1] == "2. Deploy previous version 1.0.0"
    assert api.get("/api/v1/runs", tokens.viewer).json() == []
    assert api.get("/api/v1/incidents", tokens.viewer).json() == []


def test_a_rollback_to_a_named_version_goes_there(api: Api, tokens: Tokens) -> None:
    accepted = start_rollback_to_run(api, tokens.operator, to_version="1.0.0")

    run = api.wait_for_run(int(str(accepted["run_id"])), tokens.viewer)
    assert (run["state"], run["to_version"]) == ("succeeded", "1.0.0")


def test_a_rollback_of_an_unknown_service_is_404_listing_the_known_ones(
    api: Api, tokens: Tokens
) -> None:
    answer = api.post("/api/v1/services/nope/rollback", tokens.operator, json={"reason": "x"})

    assert answer.status_code == 404
    assert answer.json()["hint"] == "services in the config: api, worker"


def test_a_rollback_to_an_unknown_version_is_404_listing_the_known_ones(
    api: Api, tokens: Tokens
) -> None:
    answer = api.post(ROLLBACK, tokens.operator, json={"reason": "x", "to_version": "0.9.0"})

    assert answer.status_code == 404
    assert answer.json()["error"] == "service 'api' has no recorded release '0.9.0'"
    assert "1.0.0" in answer.json()["hint"]
    assert api.get("/api/v1/runs", tokens.viewer).json() == []


def test_a_second_rollback_while_the_first_holds_the_lock_is_409_naming_it(
    open_runtime: OpenRuntime, serve: Serve
) -> None:
    runtime = open_runtime(deploy_delay="1s")
    api = serve(runtime)
    operator = create_token(runtime, "operator", Role.OPERATOR, actor="test")
    first = start_rollback_to_run(api, operator)

    second = api.post(ROLLBACK, operator, json={"reason": "again"})

    assert second.status_code == 409
    assert second.json()["error"] == f"service 'api' is locked by run {first['run_id']}"
    assert second.json()["exit_code"] == 5
    assert api.wait_for_run(int(str(first["run_id"])), operator)["state"] == "succeeded"


def test_a_run_waiting_at_its_gate_goes_on_once_an_approver_approves(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    run_id = park_a_run_at_its_gate(runtime)
    assert api.get(f"/api/v1/runs/{run_id}", tokens.viewer).json()["state"] == "awaiting_approval"

    refused = api.post(f"/api/v1/runs/{run_id}/approve", tokens.operator)
    answer = api.post(f"/api/v1/runs/{run_id}/approve", tokens.approver)

    assert refused.status_code == 403
    assert answer.status_code == 202
    assert answer.json()["run_id"] == run_id
    run = api.wait_for_run(run_id, tokens.viewer)
    assert run["state"] == "succeeded", run
    assert run["steps"][0]["kind"] == "approve"
    assert ("token:approver", "run.approved") in audit_trail(runtime)


def test_approving_a_run_that_is_not_waiting_is_409(api: Api, tokens: Tokens) -> None:
    run_id = int(str(start_rollback_to_run(api, tokens.operator)["run_id"]))
    api.wait_for_run(run_id, tokens.viewer)

    answer = api.post(f"/api/v1/runs/{run_id}/approve", tokens.approver)

    assert answer.status_code == 409
    assert (
        answer.json()["error"] == f"run {run_id} is not waiting for an approval (it is succeeded)"
    )


def test_aborting_a_waiting_run_ends_it_and_frees_the_service(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    run_id = park_a_run_at_its_gate(runtime)

    answer = api.post(f"/api/v1/runs/{run_id}/abort", tokens.operator, json={"reason": "wrong"})

    assert answer.status_code == 200
    assert answer.json()["state"] == "aborted"
    assert answer.json()["error"] == "aborted by token:operator: wrong"
    again = api.post(f"/api/v1/runs/{run_id}/abort", tokens.operator, json={"reason": "wrong"})
    assert again.status_code == 409
    next_run = start_rollback_to_run(api, tokens.operator)
    assert api.wait_for_run(int(str(next_run["run_id"])), tokens.viewer)["state"] == "succeeded"


def test_an_abort_needs_a_reason_and_an_operator(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    run_id = park_a_run_at_its_gate(runtime)

    no_reason = api.post(f"/api/v1/runs/{run_id}/abort", tokens.operator, json={})
    viewer = api.post(f"/api/v1/runs/{run_id}/abort", tokens.viewer, json={"reason": "x"})

    assert no_reason.status_code == 422
    assert no_reason.json()["error"] == "invalid request: body.reason: Field required"
    assert viewer.status_code == 403
    assert api.get(f"/api/v1/runs/{run_id}", tokens.viewer).json()["state"] == "awaiting_approval"


def test_every_action_is_audited_under_the_token_name(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    run_id = int(str(start_rollback_to_run(api, tokens.operator)["run_id"]))
    api.wait_for_run(run_id, tokens.viewer)

    trail = audit_trail(runtime)
    assert ("token:operator", "run.application.planned") in trail
    assert ("token:operator", "run.application.succeeded") in trail
