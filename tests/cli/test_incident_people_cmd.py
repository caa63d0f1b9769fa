"""`backout incident status|note|confirm`: people move an incident, write on its timeline and
tick the runbook's checklist; `incident show` measures it against its objectives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backout.incidents import open_incident
from backout.limits import MAX_NOTE_CHARS

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

FAILED, USAGE, NOT_FOUND = 1, 2, 4


def open_one(backout: Backout) -> int:
    """An incident a trigger opened and left to people (a service whose policy is notify)."""
    with backout.runtime() as runtime, runtime.store.session() as session:
        return open_incident(
            session,
            environment=runtime.environment,
            service="api",
            title="api 1.1.0: sign-ins fail",
            trigger="flow",
            release_id=None,
            rto_s=900.0,
            detected_at=datetime.now(UTC),
            impact_started_at=None,
            actor="backout-watch",
        ).id


def shown(backout: Backout, incident_id: int) -> dict[str, Any]:
    detail: dict[str, Any] = backout.ok("incident", "show", str(incident_id), "--json").json()
    return detail


def moves(detail: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(from, to, actor) of each status_changed line."""
    return [
        (e["evidence"][0]["from"], e["evidence"][0]["to"], e["actor"])
        for e in detail["timeline"]
        if e["kind"] == "status_changed"
    ]


def test_a_rollback_moves_its_incident_from_identified_to_resolved(live_api: Backout) -> None:
    live_api.rolled_back()

    detail = shown(live_api, 1)

    assert detail["status"] == "resolved"
    assert moves(detail) == [
        ("investigating", "identified", "alice@test"),  # the rollback was planned
        ("identified", "monitoring", "alice@test"),  # its health checks passed
        ("monitoring", "resolved", "alice@test"),  # it ended after its monitoring window
    ]
    objectives = {o["name"]: o for o in detail["objectives"]}
    assert objectives["time_to_recover"]["objective_s"] == 900.0
    assert objectives["time_to_recover"]["met"] is True
    assert objectives["time_to_detect"]["met"] is None, "a manual rollback: impact start unknown"
    done = {c["id"]: c["by"] for c in detail["checklist"] if c["done"]}
    assert done["previous_version"] == done["health_verified"] == "alice@test"
    assert "root_cause" not in done


def test_people_move_an_open_incident_and_the_timeline_says_who_and_why(
    live_api: Backout,
) -> None:
    incident_id = str(open_one(live_api))

    said = live_api.ok("incident", "status", incident_id, "identified", "-m", "bad migration")
    live_api.with_env(BACKOUT_ACTOR="bob").ok("incident", "status", incident_id, "monitoring")
    live_api.ok("incident", "status", incident_id, "resolved", "--message", "fixed forward")

    assert said.stdout.strip() == f"incident {incident_id} is identified"
    detail = shown(live_api, int(incident_id))
    assert detail["status"] == "resolved"
    assert moves(detail) == [
        ("investigating", "identified", "alice@test"),
        ("identified", "monitoring", "bob"),
        ("monitoring", "resolved", "alice@test"),
    ]
    texts = [e["text"] for e in detail["timeline"] if e["kind"] == "status_changed"]
    assert texts == [
        "investigating → identified: bad migration",
        "identified → monitoring: set by bob",
        "monitoring → resolved: fixed forward",
    ]
    assert detail["recovered_at"] is not None, "moving to monitoring stops the recovery clock"


def test_impossible_moves_are_refused_with_the_reason(live_api: Backout) -> None:
    incident_id = str(open_one(live_api))
    live_api.ok("incident", "status", incident_id, "resolved")

    live_api("incident", "status", incident_id, "resolved").refused(
        FAILED, f"incident {incident_id} cannot become resolved: it is resolved already"
    )
    live_api("incident", "status", incident_id, "monitoring").refused(
        FAILED, "a resolved incident is reopened only by a trigger firing again"
    )
    live_api("incident", "status", incident_id, "fixed").refused(USAGE, "'fixed' is not one of")
    assert shown(live_api, int(incident_id))["status"] == "resolved"


def test_an_incident_is_not_resolved_while_its_run_is_unfinished(live_api: Backout) -> None:
    run_id = live_api.rollback_waiting_for_approval()

    live_api("incident", "status", "1", "resolved").refused(
        FAILED, f"incident 1 cannot be resolved while run {run_id} is unfinished"
    )


def test_notes_and_public_updates_are_on_the_timeline_with_their_author(
    live_api: Backout,
) -> None:
    incident_id = str(open_one(live_api))

    live_api.ok("incident", "note", incident_id, "db at postgresql://app:s3cret@db/main is slow")
    live_api.with_env(BACKOUT_ACTOR="comms").ok(
        "incident", "note", incident_id, "Bookings are back.", "--public"
    )

    timeline = shown(live_api, int(incident_id))["timeline"]
    people = [(e["kind"], e["actor"], e["text"]) for e in timeline[-2:]]
    assert people == [
        ("note", "alice@test", "db at postgresql://app:***@db/main is slow"),
        ("public_update", "comms", "Bookings are back."),
    ]
    assert timeline[-1]["message"] == timeline[-1]["text"], "the earlier key still answers"


def test_a_note_must_say_something_and_not_too_much(live_api: Backout) -> None:
    incident_id = str(open_one(live_api))

    live_api("incident", "note", incident_id, "   ").refused(USAGE, "the text is empty")
    huge = "x" * (MAX_NOTE_CHARS + 1)
    live_api("incident", "note", incident_id, huge).refused(USAGE, "at most 4,000 characters")
    kinds = [e["kind"] for e in shown(live_api, int(incident_id))["timeline"]]
    assert kinds == ["detected"]


def test_commands_on_an_unknown_incident_say_so_in_one_line(backout: Backout) -> None:
    for args in (
        ("status", "9", "identified"),
        ("note", "9", "hello"),
        ("confirm", "9", "root_cause"),
    ):
        result = backout("incident", *args)
        result.refused(NOT_FOUND, "there is no incident 9")
        assert result.stderr.splitlines()[0] == "error: there is no incident 9", result


def test_a_person_confirms_a_checklist_item_once(live_api: Backout) -> None:
    incident_id = str(open_one(live_api))

    said = live_api.ok("incident", "confirm", incident_id, "communication_prepared")

    assert said.stdout.strip() == (
        f"communication_prepared confirmed on incident {incident_id} by alice@test"
    )
    item = next(c for c in shown(live_api, int(incident_id))["checklist"] if c["done"])
    assert (item["id"], item["by"], item["how"]) == (
        "communication_prepared",
        "alice@test",
        "confirmed",
    )
    live_api("incident", "confirm", incident_id, "communication_prepared").refused(
        FAILED, "communication_prepared of incident", "is done already: confirmed by alice@test"
    )
    live_api("incident", "confirm", incident_id, "coffee").refused(
        NOT_FOUND, "there is no checklist item 'coffee'", "root_cause"
    )


def test_incident_show_prints_the_objectives_and_the_checklist(live_api: Backout) -> None:
    live_api.rolled_back()

    text = live_api.ok("incident", "show", "1").stdout

    assert "objectives" in text
    assert "time_to_recover" in text
    assert "met" in text
    assert "checklist" in text
    assert "previous version deployed" in text
    assert "a person confirms it" in text


def test_the_gate_asks_for_what_a_person_confirms_before_the_rollback(live_api: Backout) -> None:
    run_id = live_api.rollback_waiting_for_approval()
    [waiting] = [e for e in shown(live_api, 1)["timeline"] if e["kind"] == "awaiting_approval"]
    assert (
        "to confirm with it: communication_prepared (User communication prepared)"
        in (waiting["text"])
    )

    approved = live_api.with_env(BACKOUT_ACTOR="ines").ok(
        "approve", str(run_id), "--confirm", "communication_prepared"
    )

    assert approved.stdout.splitlines()[0] == (
        f"run {run_id} approved by ines, confirming communication_prepared"
    )
    done = {c["id"]: (c["by"], c["how"]) for c in shown(live_api, 1)["checklist"] if c["done"]}
    assert done["communication_prepared"] == ("ines", "confirmed")
    assert done["decision_made"] == ("ines", "a gated step was approved")
    text = live_api.ok("incident", "show", "1").stdout
    still = text[text.index("still to confirm (backout incident confirm 1 ITEM):") :]
    assert "once the service is recovered: incident_report" in still
    assert "after the incident, with its report: root_cause, improvements" in still
    assert "communication_prepared" not in still


def test_a_gate_whose_items_were_confirmed_asks_for_nothing_more(live_api: Backout) -> None:
    open_one(live_api)
    live_api.ok("incident", "confirm", "1", "communication_prepared")

    run_id = live_api.rollback_waiting_for_approval()  # joins the open incident
    [waiting] = [e for e in shown(live_api, 1)["timeline"] if e["kind"] == "awaiting_approval"]

    assert "to confirm" not in waiting["text"]
    approved = live_api("approve", str(run_id), "--confirm", "communication_prepared")
    assert approved.code == 0, approved
    [confirmed] = [e for e in shown(live_api, 1)["timeline"] if e["kind"] == "checklist_confirmed"]
    assert confirmed["actor"] == "alice@test", "confirmed once, before the gate"


def test_an_unknown_item_at_the_gate_is_refused_and_the_run_still_waits(
    live_api: Backout,
) -> None:
    run_id = live_api.rollback_waiting_for_approval()

    live_api("approve", str(run_id), "--confirm", "coffee").refused(
        NOT_FOUND, "there is no checklist item 'coffee'"
    )
    assert live_api.run_detail(run_id)["state"] == "awaiting_approval"
