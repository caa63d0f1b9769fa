"""`backout rollback SERVICE`: to the last known good version or the one named, after a
confirmation, through the runbook's five steps; every refusal names what the caller needs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from backout.operations import views
from backout.operations.rollback import abort_run
from backout.releases import ReleaseStatus

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

NOT_FOUND = 4
REFUSED = 1
LOCKED = 5
ABORTED = 7
NOT_CONFIRMED = 9
RUNBOOK_STEPS = [
    "1. Stop traffic to 1.1.0",
    "2. Deploy previous version 1.0.0",
    "3. Health checks",
    "4. Gradual traffic restore to 1.0.0 (10% → 50% → 100%)",
    "5. Monitor for",
    "6. Mark 1.1.0 rolled back",
]


@pytest.fixture
def terminal() -> Iterator[int]:
    """The far side of a pseudo-terminal already holding the answer `n`: a person says no."""
    near, far = os.openpty()
    os.write(near, b"n\n")
    yield far
    os.close(far)
    os.close(near)


def state_of(backout: Backout) -> dict[str, Any]:
    """Everything a rollback could change, to compare before and after."""
    with backout.runtime() as runtime:
        return {
            "runs": views.list_runs(runtime),
            "incidents": views.list_incidents(runtime),
            "releases": views.release_history(runtime, "api"),
            "running": runtime.driver("api").current(),
            "files": sorted(p.name for p in backout.config.parent.rglob("*.json")),
        }


def test_rollback_goes_back_to_the_last_known_good_version(live_api: Backout) -> None:
    result = live_api("rollback", "api", "--yes", "--reason", "checkout 500s")

    assert result.code == 0, result
    assert result.stdout.splitlines() == [
        "run 1: rolling api back to 1.0.0",
        "application rollback of api to 1.0.0 succeeded",
    ]
    assert "✓ 2/6 Deploy previous version 1.0.0" in result.stderr
    status = live_api.status()
    assert (status["live_version"], status["last_known_good"]) == ("1.0.0", "1.0.0")
    history = live_api.history()
    assert [(r["version"], r["status"], r["reason"]) for r in history] == [
        ("1.1.0", "rolled_back", "checkout 500s"),
        ("1.0.0", "good", None),
    ]


@pytest.mark.parametrize("option", ["--to", "--version"])
def test_rollback_goes_to_the_version_named(backout: Backout, option: str) -> None:
    backout.record("api", "1.0.0", ReleaseStatus.GOOD)
    backout.record("api", "1.1.0", ReleaseStatus.GOOD)
    backout.record("api", "1.2.0", ReleaseStatus.LIVE)

    result = backout("rollback", "api", option, "1.0.0", "--yes")

    assert result.code == 0, result
    assert result.stdout.splitlines()[-1] == "application rollback of api to 1.0.0 succeeded"
    assert backout.status()["live_version"] == "1.0.0"


def test_rollback_to_an_unknown_version_lists_the_known_ones(live_api: Backout) -> None:
    live_api("rollback", "api", "--to", "0.9.0", "--yes").refused(
        NOT_FOUND, "service 'api' has no recorded release '0.9.0'", "known versions: 1.1.0, 1.0.0"
    )


def test_rollback_of_an_unknown_service_lists_the_known_ones(live_api: Backout) -> None:
    live_api("rollback", "checkout", "--yes").refused(
        NOT_FOUND, "unknown service 'checkout'", "services in the config: api, web"
    )


def test_rollback_with_nothing_good_to_go_back_to_says_how_to_name_one(backout: Backout) -> None:
    backout.record("api", "1.1.0", ReleaseStatus.LIVE)

    backout("rollback", "api", "--yes").refused(
        REFUSED,
        "service 'api' has no release marked good to roll back to",
        "name one with --to VERSION, or mark one good: backout release mark",
    )


def test_rollback_without_yes_and_without_a_terminal_is_refused(live_api: Backout) -> None:
    before = state_of(live_api)

    live_api("rollback", "api").refused(
        NOT_CONFIRMED,
        "this change needs confirmation",
        "Roll api back from 1.1.0 to 1.0.0?",
        "pass --yes when no one can answer a prompt",
    )
    assert state_of(live_api) == before


def test_rollback_asks_a_person_at_a_terminal_and_a_no_changes_nothing(
    live_api: Backout, terminal: int
) -> None:
    before = state_of(live_api)

    result = live_api("rollback", "api", stdin=terminal)

    assert result.code == NOT_CONFIRMED, result
    assert "Roll api back from 1.1.0 to 1.0.0?" in result.stdout
    assert "Traceback" not in result.stderr
    assert "not confirmed" in result.stderr
    assert "nothing was changed" in result.stderr
    assert state_of(live_api) == before


def test_dry_run_prints_the_runbook_steps_in_order_and_changes_nothing(live_api: Backout) -> None:
    before = state_of(live_api)

    result = live_api("rollback", "api", "--dry-run")

    assert result.code == 0, result
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines[0] == "plan: roll api back from 1.1.0 to 1.0.0"
    assert [line[: len(step)] for line, step in zip(lines[1:7], RUNBOOK_STEPS, strict=True)] == (
        RUNBOOK_STEPS
    )
    assert lines[-1] == "dry run: nothing was changed"
    assert state_of(live_api) == before


def test_dry_run_as_json_lists_the_step_kinds(live_api: Backout) -> None:
    plan = live_api.ok("rollback", "api", "--dry-run", "--json").json()

    assert (plan["service"], plan["from_version"], plan["to_version"]) == ("api", "1.1.0", "1.0.0")
    assert [s["kind"] for s in plan["steps"]] == [
        "drain",
        "deploy",
        "health",
        "restore_traffic",
        "monitor",
        "mark_release",
    ]
    assert live_api.ok("runs", "--json").json() == []


def test_rollback_as_json_prints_only_the_result(live_api: Backout) -> None:
    result = live_api("rollback", "api", "--yes", "--json")

    assert result.code == 0, result
    assert result.json() == {
        "run_id": 1,
        "state": "succeeded",
        "message": "application rollback of api to 1.0.0 succeeded",
    }
    assert result.stderr == ""


def test_rollback_of_a_locked_service_names_the_run_holding_it(live_api: Backout) -> None:
    live_api.write(api=live_api.service(deploy_delay="60s"), web=live_api.service("core"))
    live_api.start("rollback", "api", "--yes")
    holder = live_api.wait_for_first_run()

    live_api("rollback", "api", "--yes", "--force", "--to", "1.1.0").refused(
        LOCKED, f"service 'api' is locked by run {holder}", f"backout run show {holder}"
    )
    assert [r["id"] for r in live_api.ok("runs", "--json").json()] == [holder]


def test_rollback_of_web_goes_on_while_api_is_locked(live_api: Backout) -> None:
    live_api.good_then_live("web")
    live_api.write(api=live_api.service(deploy_delay="60s"), web=live_api.service("core"))
    live_api.start("rollback", "api", "--yes")
    live_api.wait_for_first_run()

    result = live_api("rollback", "web", "--yes")

    assert result.code == 0, result


def test_a_rollback_aborted_while_it_runs_exits_7(live_api: Backout) -> None:
    api = live_api.service(hold_until="deploy-may-end")  # deploying until the file exists
    live_api.write(api=api, web=live_api.service("core"))
    rollback = live_api.start("rollback", "api", "--yes")
    run_id = live_api.wait_until_deploying()
    with live_api.runtime() as runtime:
        abort_run(runtime, run_id, "bob@test", "wrong service")
    (live_api.config.parent / "deploy-may-end").touch()

    stdout, stderr = rollback.communicate(timeout=30)

    assert rollback.returncode == ABORTED, (stdout, stderr)
    assert "aborted by bob@test: wrong service" in stdout
    assert "Traceback" not in stderr


def test_a_failing_deploy_exits_1_and_run_show_names_the_failed_step(live_api: Backout) -> None:
    live_api.write(api=live_api.service(fail_versions=["1.0.0"]), web=live_api.service("core"))

    result = live_api("rollback", "api", "--yes")

    assert result.code == 1, result
    assert "Traceback" not in result.stderr
    assert "failed: step 2 (Deploy previous version 1.0.0) failed: fake driver" in result.stdout
    shown = live_api.ok("run", "show", "1")
    assert "application api 1.1.0 → 1.0.0, failed (manual rollback)" in shown.stdout
    assert "step 2 (Deploy previous version 1.0.0) failed" in shown.stdout
    steps = live_api.ok("run", "show", "1", "--json").json()["steps"]
    assert [s["state"] for s in steps[:3]] == ["succeeded", "failed", "pending"]


def test_a_message_that_looks_like_markup_is_printed_as_written(backout: Backout) -> None:
    backout.write(api=backout.service(fail_versions=["[/x]"]), web=backout.service("core"))
    backout.record("api", "[/x]", ReleaseStatus.GOOD)
    backout.record("api", "1.1.0", ReleaseStatus.LIVE)

    result = backout("rollback", "api", "--yes")

    assert result.code == 1, result
    assert "Traceback" not in result.stderr
    assert "deploying api [/x] fails" in result.stdout
    assert "Deploy previous version [/x]" in backout.ok("run", "show", "1").stdout
    assert "[/x]" in backout.ok("releases", "api").stdout


def test_rollback_to_the_release_that_was_rolled_back_is_refused_naming_the_incident(
    live_api: Backout,
) -> None:
    run_id = live_api.rolled_back(reason="checkout 500s")  # 1.0.0 live and good again
    before = state_of(live_api)

    live_api("rollback", "api", "--to", "1.1.0", "--yes").refused(
        1,
        f"api 1.1.0 was rolled back by run {run_id} (incident 1): checkout 500s; not rolling "
        "back to it",
        "--force",
    )
    assert state_of(live_api) == before


def test_a_forced_rollback_to_a_rolled_back_release_keeps_the_last_known_good(
    live_api: Backout,
) -> None:
    live_api.rolled_back()

    forced = live_api("rollback", "api", "--to", "1.1.0", "--yes", "--force")

    assert forced.code == 0, forced
    status = live_api.status()
    assert (status["live_version"], status["last_known_good"]) == ("1.1.0", "1.0.0")
    assert status["live_status"] == "live"  # judged afresh by the watch loop, not "rolled_back"
    assert live_api("rollback", "api", "--yes").code == 0  # and the next rollback has a target
    assert live_api.status()["live_version"] == "1.0.0"


def test_rollback_to_a_release_marked_bad_is_refused_saying_why(backout: Backout) -> None:
    backout.record("api", "0.9.0", ReleaseStatus.GOOD)
    backout.ok("release", "mark", "api", "0.9.0", "bad", "--reason", "corrupts carts")
    backout.good_then_live()

    backout("rollback", "api", "--to", "0.9.0", "--yes").refused(
        1, "api 0.9.0 is marked bad: corrupts carts; not rolling back to it", "--force"
    )
    assert backout.status()["live_version"] == "1.1.0"


def test_rollback_to_the_live_version_is_refused(live_api: Backout) -> None:
    before = state_of(live_api)

    live_api("rollback", "api", "--to", "1.1.0", "--yes").refused(
        1, "api 1.1.0 is already live: there is nothing to roll back from", "--to"
    )
    assert state_of(live_api) == before


def test_rollback_when_the_live_release_is_the_last_known_good_says_so(live_api: Backout) -> None:
    live_api.rolled_back()

    live_api("rollback", "api", "--yes").refused(
        REFUSED,
        "nothing to roll back: 1.0.0 is live and good; name an older release with --to",
    )
