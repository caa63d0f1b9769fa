"""`backout runs`, `run show`, `resume`, `abort`, `approve`: the life of a run after it starts —
listed, inspected, finished after a crash, stopped where it stands, or let through its gate."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

NOT_FOUND = 4
AWAITING_APPROVAL = 6


def test_runs_lists_newest_first_and_filters_by_service(live_api: Backout) -> None:
    live_api.good_then_live("web")
    live_api.rolled_back("api")
    live_api.rolled_back("web")

    everything = live_api.ok("runs", "--json").json()
    only_api = live_api.ok("runs", "--service", "api", "--json").json()
    newest = live_api.ok("runs", "--limit", "1", "--json").json()

    assert [(r["id"], r["service"]) for r in everything] == [(2, "web"), (1, "api")]
    assert {k: only_api[0][k] for k in ("id", "kind", "from_version", "to_version", "state")} == {
        "id": 1,
        "kind": "application",
        "from_version": "1.1.0",
        "to_version": "1.0.0",
        "state": "succeeded",
    }
    assert len(only_api) == 1
    assert [r["id"] for r in newest] == [2]
    table = live_api.ok("runs").stdout
    assert "application" in table
    assert "succeeded" in table


def test_runs_of_a_service_that_is_not_configured_is_refused_naming_the_known_ones(
    backout: Backout,
) -> None:
    refused = backout("runs", "--service", "apii")
    as_json = backout("runs", "--service", "apii", "--json")

    refused.refused(NOT_FOUND, "unknown service 'apii'", "api")
    assert as_json.json()["error"]["exit_code"] == NOT_FOUND


def test_a_subject_s_key_is_not_taken_for_an_unknown_service(backout: Backout) -> None:
    assert backout.ok("runs", "--service", "database:main", "--json").json() == []


def test_run_show_prints_the_run_and_each_step(live_api: Backout) -> None:
    live_api.rolled_back(reason="checkout 500s")

    shown = live_api.ok("run", "show", "1")
    detail = live_api.ok("run", "show", "1", "--json").json()

    assert "run 1: application api 1.1.0 → 1.0.0, succeeded (checkout 500s)" in shown.stdout
    assert "Deploy previous version 1.0.0" in shown.stdout
    assert [(s["position"], s["kind"], s["state"]) for s in detail["steps"]] == [
        (1, "drain", "succeeded"),
        (2, "deploy", "succeeded"),
        (3, "health", "succeeded"),
        (4, "restore_traffic", "succeeded"),
        (5, "monitor", "skipped"),
        (6, "mark_release", "succeeded"),
    ]
    assert (detail["actor"], detail["incident_id"]) == ("alice@test", 1)


def test_run_show_of_an_unknown_run_says_how_to_list_them(backout: Backout) -> None:
    backout("run", "show", "99").refused(NOT_FOUND, "there is no run 99", "backout runs")


def test_resume_with_nothing_left_unfinished_says_so(live_api: Backout) -> None:
    resumed = live_api("resume")

    assert resumed.code == 0, resumed
    assert resumed.stdout.strip() == "nothing to resume"


def test_resume_finishes_a_rollback_whose_process_was_killed(live_api: Backout) -> None:
    live_api.write(api=live_api.service(deploy_delay="60s"), web=live_api.service("core"))
    rollback = live_api.start("rollback", "api", "--yes")
    run_id = live_api.wait_until_deploying()
    rollback.kill()
    rollback.wait()
    live_api.write()  # deploys are quick again

    resumed = live_api("resume")

    assert resumed.code == 0, resumed
    assert resumed.stdout.strip() == f"run {run_id}: application rollback of api to 1.0.0 succeeded"
    steps = live_api.run_detail(run_id)["steps"]
    assert [s["state"] for s in steps] == [
        "succeeded",
        "succeeded",
        "succeeded",
        "succeeded",
        "skipped",
        "succeeded",
    ]
    assert steps[0]["attempts"] == 1  # done before the crash, not done again
    assert steps[1]["attempts"] == 2


def test_resume_stops_at_an_approval_gate_and_exits_6(live_api: Backout) -> None:
    run_id = live_api.gated_rollback_left_by_a_dead_process()

    resumed = live_api("resume")

    assert resumed.code == AWAITING_APPROVAL, resumed
    assert f"run {run_id}: run {run_id} waits for approval" in resumed.stdout
    assert f"backout approve {run_id}" in resumed.stdout
    assert live_api.run_detail(run_id)["state"] == "awaiting_approval"


def test_approve_lets_a_waiting_run_through_its_gate_and_finishes_it(live_api: Backout) -> None:
    run_id = live_api.rollback_waiting_for_approval()

    approved = live_api("approve", str(run_id))

    assert approved.code == 0, approved
    assert approved.stdout.splitlines() == [
        f"run {run_id} approved by alice@test",
        "application rollback of api to 1.0.0 succeeded",
    ]
    detail = live_api.run_detail(run_id)
    assert detail["state"] == "succeeded"
    assert detail["steps"][0]["message"] == "approved by alice@test"
    assert live_api.status()["live_version"] == "1.0.0"


def test_approve_of_a_run_that_is_not_waiting_is_refused(live_api: Backout) -> None:
    live_api.rolled_back()

    live_api("approve", "1").refused(1, "run 1 is not waiting for an approval (it is succeeded)")


def test_approve_of_an_unknown_run_is_not_found(backout: Backout) -> None:
    backout("approve", "7").refused(NOT_FOUND, "there is no run 7")


def test_abort_ends_a_waiting_run_and_frees_its_service(live_api: Backout) -> None:
    run_id = live_api.rollback_waiting_for_approval()

    aborted = live_api("abort", str(run_id), "--reason", "wrong call")

    assert aborted.code == 0, aborted
    assert aborted.stdout.strip() == f"run {run_id} aborted"
    detail = live_api.run_detail(run_id)
    assert (detail["state"], detail["error"]) == ("aborted", "aborted by alice@test: wrong call")
    assert live_api.status()["active_runs"] == []
    again = live_api("rollback", "api", "--yes")
    assert again.code == 0, again


def test_abort_of_a_run_that_has_ended_is_refused(live_api: Backout) -> None:
    run_id = live_api.rollback_waiting_for_approval()
    live_api.ok("abort", str(run_id))

    live_api("abort", str(run_id)).refused(1, f"run {run_id} has already ended: aborted")


def test_abort_of_an_unknown_run_is_not_found(backout: Backout) -> None:
    backout("abort", "12").refused(NOT_FOUND, "there is no run 12")
