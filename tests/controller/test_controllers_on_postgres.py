"""Three `backout watch` processes on one real PostgreSQL, as on three machines: exactly one
watches; killed mid-step, its run is taken over within the lease time plus one cycle, the
interrupted step observed and nothing done twice; paused past its lease, the leader wakes
fenced — it records nothing, acts on nothing, and steps down."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backout.runs.records import run_lease
from tests.controllers_support import DEPLOY, HEALTH, WATCH_LEASE, Controller, Fleet, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

START_S = 30.0  # three interpreters starting on a busy 2-core machine
# Polling (20 ms) and process scheduling on a shared 2-core machine, on top of the bound.
SLACK_S = 2.0


@pytest.fixture
def fleet_of(tmp_path: Path, postgres_url: str) -> Iterator[type[Fleet]]:
    fleets: list[Fleet] = []

    class Made(Fleet):
        def __init__(self, **settings: object) -> None:
            super().__init__(tmp_path, postgres_url, **settings)  # type: ignore[arg-type]
            fleets.append(self)

    yield Made
    for fleet in fleets:
        fleet.close()


def three_controllers(fleet: Fleet, *, first_failpoints: str | None = None) -> Controller:
    """Start node-a (it leads: it starts alone), then node-b and node-c; the leader."""
    first = fleet.start("node-a", failpoints=first_failpoints)
    wait_until(lambda: fleet.leader() is first, "node-a to lead", START_S)
    fleet.start("node-b")
    fleet.start("node-c")
    for standby in fleet.controllers[1:]:
        wait_until(
            lambda c=standby: "standing by" in c.said(), f"{standby.node} stands by", START_S
        )
    return first


def test_of_three_controllers_exactly_one_watches(fleet_of: type[Fleet]) -> None:
    fleet = fleet_of(services=2)
    leader = three_controllers(fleet)
    holder = fleet.holder(WATCH_LEASE)

    wait_until(lambda: "svc1 1.1.0: no probe configured" in leader.said(), "a cycle", START_S)

    for standby in fleet.controllers[1:]:
        said = standby.said()
        assert f"standing by: {holder} leads the watch of production" in said, said
        assert "svc0 1.1.0" not in said, "a controller standing by decides nothing"
        assert "svc1 1.1.0" not in said
    assert fleet.leader() is leader


@pytest.mark.parametrize(
    ("killed", "failpoints", "deploy_attempts", "observed"),
    [
        ("before the deploy took effect", None, 2, False),
        ("after the deploy took effect", "executor.after_act=2", 1, True),
    ],
)
def test_the_controller_killed_mid_step_is_taken_over_within_the_lease_and_a_cycle(
    fleet_of: type[Fleet],
    killed: str,
    failpoints: str | None,
    deploy_attempts: int,
    observed: bool,
) -> None:
    fleet = fleet_of(lease="4s", renew="1s", interval="200ms", deploy_delay="2s", health_s=0.5)
    leader = three_controllers(fleet, first_failpoints=failpoints)
    run_id = fleet.orphaned_rollback("svc0")
    wait_until(lambda: fleet.step(run_id, DEPLOY)[0] == "running", "the deploy to start", 20)
    assert fleet.by_holder(fleet.holder(run_lease(run_id))) is leader

    if failpoints is None:
        os.kill(leader.pid, signal.SIGKILL)
    wait_until(lambda: leader.process.poll() is not None, "the leader to die", 20)
    died_at = time.monotonic()
    successor = wait_until(
        lambda: fleet.other_than(leader, fleet.holder(run_lease(run_id))),
        "another to take the run",
        30,
    )
    takeover_s = time.monotonic() - died_at

    assert successor is not leader
    assert takeover_s <= fleet.lease_s + fleet.interval_s + SLACK_S, (killed, takeover_s)
    wait_until(lambda: fleet.run_state(run_id) == "succeeded", "the run to finish", 30)
    state, attempts, message = fleet.step(run_id, DEPLOY)
    assert (state, attempts) == ("succeeded", deploy_attempts), message
    assert (message or "").startswith("(observed after an interruption)") is observed, message
    assert fleet.deploys("svc0") == 2, "the seed's deploy and one rollback: none repeated"
    assert fleet.duplicate_records(run_id) == 0
    assert f"run {run_id}: left unfinished" in successor.said()


def test_a_leader_paused_past_its_lease_wakes_fenced_records_nothing_and_steps_down(
    fleet_of: type[Fleet],
) -> None:
    fleet = fleet_of(lease="3s", renew="1s", interval="200ms", deploy_delay="0s", health_s=3.0)
    leader = three_controllers(fleet)
    run_id = fleet.orphaned_rollback("svc0")
    wait_until(lambda: fleet.step(run_id, HEALTH)[0] == "running", "the health step", 20)

    os.kill(leader.pid, signal.SIGSTOP)  # mid-step, holding both leases
    successor = wait_until(
        lambda: fleet.other_than(leader, fleet.holder(WATCH_LEASE)), "another to lead", 20
    )
    wait_until(lambda: fleet.run_state(run_id) == "succeeded", "the run finished by it", 30)
    before = fleet.records(run_id), fleet.deploys("svc0")
    os.kill(leader.pid, signal.SIGCONT)

    wait_until(lambda: "stepping down" in leader.said(), "the old leader to step down", 20)
    wait_until(lambda: "lost its lease" in leader.said(), "its run to find itself fenced", 20)
    assert (fleet.records(run_id), fleet.deploys("svc0")) == before, "it recorded nothing"
    assert fleet.leader() is successor is not leader
    assert leader.process.poll() is None, "it stands by"
    assert fleet.duplicate_records(run_id) == 0
    health = fleet.step(run_id, HEALTH)
    assert health[:2] == ("succeeded", 2), "the successor ran the read-only check again"
