"""`backout flags ramp-down`: a flag's exposure lowered stage by stage, each stage held while a
real probe feeds the triggers of the service the flag guards, then the flag marked for removal.

The service `api` is probed on a loopback HTTP server whose answer the test sets (200, or 500
for a fault); the flags live in the builtin provider on the SQLite state store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from backout.operations import views
from backout.operations.flags import flag_detail
from tests.cli.conftest import ACTOR, Backout, Result, fake_service

HOLD = "1s"  # five times the trigger's `for`: a fault present at a stage fires within its hold


@dataclass
class ProbeTarget:
    """What the service answers the probe: 500s while `failing`."""

    url: str
    failing: bool = False


@pytest.fixture
def target() -> Iterator[ProbeTarget]:
    answer = ProbeTarget("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(500 if answer.failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    answer.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield answer
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def ramp(backout: Backout, target: ProbeTarget) -> Backout:
    """`api`, probed every 20ms with an error-rate trigger, is guarded by `waitlist` (on for
    everyone); `dark-mode` guards nothing."""
    data = yaml.safe_load(backout.config.read_text())
    data["services"]["api"] = {
        **fake_service(),
        "guarded_by": ["waitlist"],
        "probe": {"url": target.url, "interval": "20ms", "window": "10s"},
        "triggers": [{"name": "error-rate", "metric": "error_rate", "above": 0.05, "for": "200ms"}],
    }
    data["flags"] = {
        "definitions": {"waitlist": {"description": "Show the waitlist"}, "dark-mode": {}}
    }
    backout.config.write_text(yaml.safe_dump(data))
    return backout


def ramp_down(ramp: Backout, *args: str) -> Result:
    return ramp("flags", "ramp-down", "waitlist", "--json", *args)


def changes(ramp: Backout, key: str = "waitlist") -> list[dict[str, Any]]:
    """The flag's recorded changes (what `flags show` lists), oldest first; read in-process."""
    with ramp.runtime() as runtime:
        found: list[dict[str, Any]] = flag_detail(runtime, key)["changes"]
    return found[::-1]


def incident(ramp: Backout, incident_id: int) -> dict[str, Any]:
    """What `incident show --json` says; read in-process."""
    with ramp.runtime() as runtime:
        return views.incident_detail(runtime, incident_id)


def step_states(ramp: Backout, run_id: int) -> list[tuple[str, str]]:
    return [(s["kind"], s["state"]) for s in ramp.run_detail(run_id)["steps"]]


def nothing_happened(ramp: Backout) -> None:
    assert changes(ramp) == []
    with ramp.runtime() as runtime:
        assert views.list_runs(runtime) == []
        assert views.list_incidents(runtime) == []


def test_a_ramp_down_lowers_the_flag_stage_by_stage_then_marks_it_for_removal(
    ramp: Backout,
) -> None:
    done = ramp_down(ramp, "--stages", "50,0", "--hold", HOLD, "--reason", "retire the waitlist")

    assert done.code == 0, done
    out = done.json()
    assert (out["state"], out["cut_short"]) == ("succeeded", None)
    assert (out["flag"]["enabled"], out["flag"]["to_remove"]) == (False, True)
    assert step_states(ramp, out["run_id"]) == [
        ("flag_set", "succeeded"),
        ("flag_hold", "succeeded"),
        ("flag_set", "succeeded"),
        ("flag_hold", "succeeded"),
        ("flag_mark_remove", "succeeded"),
    ]
    recorded = changes(ramp)
    assert [
        (c["after"]["enabled"], c["after"]["rollout"], c["after"]["to_remove"]) for c in recorded
    ] == [
        (True, 50, False),
        (False, 50, False),
        (False, 50, True),
    ]
    assert [c["reason"] for c in recorded] == [
        "retire the waitlist (ramp-down stage 1/2: 50 %)",
        "retire the waitlist (ramp-down stage 2/2: 0 % (off))",
        "retire the waitlist (ramped down to 0 %)",
    ]
    assert {(c["actor"], c["run_id"], c["incident_id"]) for c in recorded} == {
        (ACTOR, out["run_id"], out["incident_id"])
    }
    opened = incident(ramp, out["incident_id"])
    on_timeline = [e for e in opened["timeline"] if e["kind"] == "flag_changed"]
    assert [e["message"] for e in on_timeline][:2] == [
        "flag waitlist: on (everyone) → on (50 %): retire the waitlist (ramp-down stage 1/2: 50 %)",
        "flag waitlist: on (50 %) → off: retire the waitlist (ramp-down stage 2/2: 0 % (off))",
    ]
    assert {(e["actor"], e["run_id"]) for e in on_timeline} == {(ACTOR, out["run_id"])}
    assert len(on_timeline) == 3
    # The probe saw no fault with the flag off for the whole last hold: a verified recovery.
    assert opened["status"] == "resolved"
    assert opened["recovered_at"] is not None


def test_a_trigger_firing_at_50_percent_turns_the_flag_straight_off_and_ends_the_ramp(
    ramp: Backout, target: ProbeTarget
) -> None:
    target.failing = True

    done = ramp_down(ramp, "--stages", "50,0", "--hold", HOLD, "--reason", "retire the waitlist")

    assert done.code == 0, done
    out = done.json()
    assert out["cut_short"].startswith(
        "trigger error-rate fired at 50 % of waitlist (api: error rate 100.0% > 5.0% for"
    )
    assert (out["flag"]["enabled"], out["flag"]["to_remove"]) == (False, False)
    assert step_states(ramp, out["run_id"]) == [
        ("flag_set", "succeeded"),
        ("flag_hold", "succeeded"),
        ("flag_set", "skipped"),
        ("flag_hold", "skipped"),
        ("flag_mark_remove", "skipped"),
    ]
    first, cut = changes(ramp)
    assert first["after"] == {"enabled": True, "rollout": 50, "to_remove": False}
    assert cut["after"] == {"enabled": False, "rollout": 50, "to_remove": False}
    assert cut["reason"] == f"{out['cut_short']}: straight to 0 %"
    assert cut["run_id"] == out["run_id"]
    timeline = incident(ramp, out["incident_id"])["timeline"]
    kinds = [e["kind"] for e in timeline]
    fired = kinds.index("trigger_fired")
    assert timeline[fired]["message"] == out["cut_short"]
    assert timeline[fired + 1]["message"] == f"flag waitlist: on (50 %) → off: {cut['reason']}"
    assert "recovered" not in kinds, "turning it off was not watched: the recovery is unverified"


def test_with_on_trigger_stop_the_run_fails_at_the_stage_leaving_the_flag_there(
    ramp: Backout, target: ProbeTarget
) -> None:
    target.failing = True

    # Long enough for the probe, started with the hold, to see the breach held for its `for`
    # on a loaded machine; the hold ends as soon as the trigger fires.
    done = ramp_down(ramp, "--stages", "50,0", "--hold", "5s", "--on-trigger", "stop")

    assert done.code == 1, done
    out = done.json()
    assert out["state"] == "failed"
    assert "step 2 (Hold 5s at 50 %, the triggers of api armed) failed: " in out["message"]
    assert (
        "trigger error-rate fired at 50 % of waitlist (api: error rate 100.0% > 5.0%"
        in out["message"]
    )
    assert out["message"].endswith("; on trigger stop: waitlist left at 50 %")
    assert (out["flag"]["enabled"], out["flag"]["rollout"]) == (True, 50)
    assert [c["after"]["rollout"] for c in changes(ramp)] == [50]
    assert step_states(ramp, out["run_id"])[1:3] == [
        ("flag_hold", "failed"),
        ("flag_set", "pending"),
    ]


@pytest.mark.parametrize(
    ("stages", "says"),
    [
        ("50,60,0", "stages must fall at each step, e.g. 50,10,0; got 50,60,0"),
        ("50,50,0", "stages must fall at each step"),
        ("50,10", "the last stage must be 0 (the flag off), not 10"),
        ("150,0", "stages are percents from 0 to 100, not 150"),
        ("50,-1", "stages are percents from 0 to 100, not -1"),
        ("fifty,0", "expected percents separated by commas, e.g. 50,0; got 'fifty,0'"),
        ("", "expected percents separated by commas"),
    ],
)
def test_stages_that_do_not_fall_to_0_are_a_usage_error_and_change_nothing(
    ramp: Backout, stages: str, says: str
) -> None:
    ramp_down(ramp, "--stages", stages, "--hold", HOLD).refused(2, "--stages", says)
    nothing_happened(ramp)


def test_a_hold_that_is_not_a_duration_is_a_usage_error(ramp: Backout) -> None:
    ramp_down(ramp, "--stages", "50,0", "--hold", "5").refused(2, "--hold", "got '5'")
    nothing_happened(ramp)


def test_a_first_stage_above_the_flags_exposure_is_refused(ramp: Backout) -> None:
    ramp.ok("flags", "rollout", "waitlist", "30", "--reason", "start small")

    refused = ramp_down(ramp, "--stages", "50,0", "--hold", HOLD)

    refused.refused(1, "stage 50 % would raise waitlist (on (30 %))", "--stages 15,0")
    assert len(changes(ramp)) == 1
    with ramp.runtime() as runtime:
        assert views.list_runs(runtime) == []


def test_a_flag_already_off_or_unknown_is_refused(ramp: Backout) -> None:
    ramp.ok("flags", "disable", "waitlist", "--reason", "killed")

    ramp_down(ramp, "--stages", "0", "--hold", HOLD).refused(1, "flag waitlist is off already")
    ramp("flags", "ramp-down", "nope", "--stages", "0", "--hold", HOLD).refused(
        4, "unknown flag 'nope'"
    )


def test_dry_run_prints_the_plan_and_changes_nothing(ramp: Backout) -> None:
    shown = ramp(
        "flags", "ramp-down", "waitlist", "--stages", "50,10,0", "--hold", "5m", "--dry-run"
    )

    assert shown.code == 0, shown
    assert shown.stdout.splitlines() == [
        "plan: ramp waitlist down: 50 % → 10 % → 0 % (off)",
        "  1. Lower waitlist to 50 %",
        "  2. Hold 5m at 50 %, the triggers of api armed",
        "  3. Lower waitlist to 10 %",
        "  4. Hold 5m at 10 %, the triggers of api armed",
        "  5. Turn waitlist off",
        "  6. Hold 5m with waitlist off, the triggers of api armed",
        "  7. Mark waitlist for removal",
        "dry run: nothing was changed",
    ]
    nothing_happened(ramp)


def test_with_approval_the_run_waits_at_its_gate_before_any_change(ramp: Backout) -> None:
    waiting = ramp_down(ramp, "--stages", "0", "--hold", HOLD, "--approval")

    assert waiting.code == 6, waiting
    run_id = waiting.json()["run_id"]
    assert changes(ramp) == []
    approved = ramp("approve", str(run_id))

    assert approved.code == 0, approved
    assert [c["after"]["enabled"] for c in changes(ramp)] == [False, False]
    assert changes(ramp)[-1]["after"]["to_remove"] is True


def test_a_flag_guarding_no_service_is_held_unwatched_in_an_incident_of_its_own(
    ramp: Backout,
) -> None:
    done = ramp("flags", "ramp-down", "dark-mode", "--stages", "0", "--hold", "0s", "--json")

    assert done.code == 0, done
    out = done.json()
    opened = incident(ramp, out["incident_id"])
    assert opened["service"] == "flag:dark-mode"
    assert next(e["message"] for e in opened["timeline"] if e["kind"] == "flag_changed") == (
        "flag dark-mode: on (everyone) → off: gradual flag rollback (ramp-down stage 1/1: 0 % (off))"
    )
    assert opened["status"] != "resolved", "nothing watched the flag off: unverified"
