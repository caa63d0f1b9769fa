"""People on an incident over the API: notes and public updates, status moves and checklist
confirmations, each recorded as the token's name; the detail measures the objectives."""

from __future__ import annotations

from typing import Any

from test_api_runs import park_a_run_at_its_gate, start_rollback_to_run
from web_support import Api, Tokens

from backout.limits import MAX_NOTE_CHARS
from backout.runtime import Runtime


def incident_of_a_rollback(api: Api, tokens: Tokens) -> int:
    accepted = start_rollback_to_run(api, tokens.operator)
    api.wait_for_run(int(str(accepted["run_id"])), tokens.viewer)
    return int(str(accepted["incident_id"]))


def detail(api: Api, tokens: Tokens, incident_id: int) -> dict[str, Any]:
    answer = api.get(f"/api/v1/incidents/{incident_id}", tokens.viewer)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_a_note_and_a_public_update_are_on_the_timeline_as_the_token(
    api: Api, tokens: Tokens
) -> None:
    incident_id = incident_of_a_rollback(api, tokens)
    notes = f"/api/v1/incidents/{incident_id}/notes"

    first = api.post(notes, tokens.operator, json={"text": "checking the payment provider"})
    second = api.post(notes, tokens.operator, json={"text": "Bookings work again.", "public": True})

    assert (first.status_code, second.status_code) == (200, 200), second.text
    timeline = second.json()["timeline"]
    assert [(e["kind"], e["actor"], e["text"]) for e in timeline[-2:]] == [
        ("note", "token:operator", "checking the payment provider"),
        ("public_update", "token:operator", "Bookings work again."),
    ]


def test_bad_notes_are_refused_and_nothing_is_written(api: Api, tokens: Tokens) -> None:
    incident_id = incident_of_a_rollback(api, tokens)
    notes = f"/api/v1/incidents/{incident_id}/notes"
    before = len(detail(api, tokens, incident_id)["timeline"])

    empty = api.post(notes, tokens.operator, json={"text": ""})
    blank = api.post(notes, tokens.operator, json={"text": "   "})
    huge = api.post(notes, tokens.operator, json={"text": "x" * (MAX_NOTE_CHARS + 1)})
    unknown = api.post("/api/v1/incidents/99/notes", tokens.operator, json={"text": "hello"})
    viewer = api.post(notes, tokens.viewer, json={"text": "hello"})

    assert [r.status_code for r in (empty, blank, huge, unknown, viewer)] == [
        422,
        422,
        422,
        404,
        403,
    ]
    assert unknown.json()["error"] == "there is no incident 99"
    assert len(detail(api, tokens, incident_id)["timeline"]) == before


def test_people_move_the_status_and_a_resolved_incident_stays_resolved(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    park_a_run_at_its_gate(runtime)  # its incident stays open, identified, behind the gate
    status = "/api/v1/incidents/1/status"

    while_running = api.post(status, tokens.operator, json={"status": "resolved"})
    abort = api.post("/api/v1/runs/1/abort", tokens.operator, json={"reason": "fixed forward"})
    resolved = api.post(
        status, tokens.operator, json={"status": "resolved", "message": "fixed forward"}
    )
    again = api.post(status, tokens.operator, json={"status": "monitoring"})
    nonsense = api.post(status, tokens.operator, json={"status": "fine"})

    assert while_running.status_code == 409
    assert "while run 1 is unfinished" in while_running.json()["error"]
    assert abort.status_code == 200, abort.text
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved"
    last = resolved.json()["timeline"][-1]
    assert (last["kind"], last["actor"], last["text"]) == (
        "status_changed",
        "token:operator",
        "identified → resolved: fixed forward",
    )
    assert again.status_code == 409
    assert "reopened only by a trigger" in again.json()["error"]
    assert nonsense.status_code == 422


def test_an_approved_gate_is_the_decision_measured_and_ticked(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    run_id = park_a_run_at_its_gate(runtime)

    approved = api.post(f"/api/v1/runs/{run_id}/approve", tokens.approver)
    api.wait_for_run(run_id, tokens.viewer)

    assert approved.status_code == 202, approved.text
    shown = detail(api, tokens, 1)
    objectives = {o["name"]: o for o in shown["objectives"]}
    decide = objectives["time_to_decide"]
    assert (decide["objective_s"], decide["met"]) == (900.0, True)
    assert decide["measured_s"] is not None
    assert decide["measured_s"] >= 0
    decision = next(c for c in shown["checklist"] if c["id"] == "decision_made")
    assert (decision["done"], decision["by"], decision["how"]) == (
        True,
        "token:approver",
        "a gated step was approved",
    )


def test_the_approver_confirms_what_the_gate_asks_with_the_approval(
    api: Api, runtime: Runtime, tokens: Tokens
) -> None:
    run_id = park_a_run_at_its_gate(runtime)
    path = f"/api/v1/runs/{run_id}/approve"
    unknown = api.post(path, tokens.approver, json={"confirm": ["coffee"]})

    approved = api.post(path, tokens.approver, json={"confirm": ["communication_prepared"]})
    api.wait_for_run(run_id, tokens.viewer)

    assert unknown.status_code == 404, "nothing approved"
    assert approved.status_code == 202, approved.text
    checklist = {c["id"]: c for c in detail(api, tokens, 1)["checklist"]}
    prepared = checklist["communication_prepared"]
    assert (prepared["done"], prepared["by"], prepared["how"]) == (
        True,
        "token:approver",
        "confirmed",
    )
    assert prepared["asked"] == "before the rollback acts (at its approval gate, if any)"
    assert checklist["root_cause"]["asked"] == "after the incident, with its report"
    assert checklist["previous_version"]["asked"] is None, "backout checks it"


def test_a_checklist_item_is_confirmed_once_by_an_operator(api: Api, tokens: Tokens) -> None:
    incident_id = incident_of_a_rollback(api, tokens)
    item = f"/api/v1/incidents/{incident_id}/checklist/root_cause"

    confirmed = api.post(item, tokens.operator)
    twice = api.post(item, tokens.operator)
    unknown = api.post(f"/api/v1/incidents/{incident_id}/checklist/coffee", tokens.operator)

    assert confirmed.status_code == 200, confirmed.text
    root_cause = next(c for c in confirmed.json()["checklist"] if c["id"] == "root_cause")
    assert (root_cause["done"], root_cause["by"]) == (True, "token:operator")
    assert twice.status_code == 409
    assert unknown.status_code == 404
    assert "root_cause" in unknown.json()["hint"]
