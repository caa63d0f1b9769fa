"""Several controllers on one PostgreSQL: how fast a run is taken over, and that nothing is done
or recorded twice.

Three `backout watch` processes (as on three machines: each its own BACKOUT_NODE) share a
state store in a throwaway PostgreSQL cluster, with the default lease (10 s, renewed every
3 s) and watch interval (1 s) unless told otherwise. Each round hands the leader a rollback,
kills it with SIGKILL while the deploy step is under way, and measures the time from the kill
to another controller holding the run's lease; the run must then succeed; a fresh controller
replaces the dead one. A last round SIGSTOPs the leader mid-step past its lease, lets another
finish the run, then SIGCONTs it.

- takeover_s: the median takeover (goal: <= 15 s, the lease plus a cycle plus margin);
  takeover_runs: each round's.
- duplicate_effects: deploys the fake driver did beyond one per rollback (must be 0).
- fenced_writes: records made by a controller after it lost its lease — anything the paused
  leader changed after waking, and any step finished twice or release put live twice by one
  run (must be 0).

- watch_cycle_s_by_services: one watch cycle with `fake` metric sources for 10, 100, 1,000 and
  10,000 services (benchmarks/watch_cycle.py, which says how; goal: 1,000 under 1 s, growing
  linearly), with per_service_ms beside it.

Prints one JSON object.

    python benchmarks/controllers.py [--rounds 5] [--lease 10s] [--renew 3s] [--interval 1s]
        [--counts 10,100,1000,10000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.*
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for watch_cycle

from sqlalchemy import select
from watch_cycle import measure as measure_watch_cycle

from backout.runs.records import run_lease
from backout.store import Run
from tests.controllers_support import DEPLOY, HEALTH, WATCH_LEASE, Controller, Fleet, wait_until
from tests.pg import find_bindir, start_cluster

TAKEOVER_GOAL_S = 15.0
START_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="kill -9 takeovers (at least 5)")
    parser.add_argument("--lease", default="10s")
    parser.add_argument("--renew", default="3s")
    parser.add_argument("--interval", default="1s")
    parser.add_argument("--counts", default="10,100,1000,10000", help="services per watch cycle")
    args = parser.parse_args()
    cycles = {int(n): measure_watch_cycle(int(n), cycles=3) for n in args.counts.split(",")}
    bindir = find_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries not found: run scripts/ensure-postgres.sh")
    cluster = start_cluster(bindir)
    try:
        url = cluster.url(cluster.create_database())
        with tempfile.TemporaryDirectory(prefix="bench-controllers-") as folder:
            fleet = Fleet(
                Path(folder),
                url,
                services=args.rounds + 1,
                lease=args.lease,
                renew=args.renew,
                interval=args.interval,
                deploy_delay="2s",
                health_s=2.0,
            )
            try:
                figures = measure(fleet, args.rounds)
                figures["watch_cycle_s_by_services"] = {
                    str(n): round(s, 4) for n, s in cycles.items()
                }
                figures["per_service_ms"] = {
                    str(n): round(s * 1000 / n, 3) for n, s in cycles.items()
                }
                print(json.dumps(figures, indent=2))
            finally:
                fleet.close()
    finally:
        cluster.destroy()


def measure(fleet: Fleet, rounds: int) -> dict[str, Any]:
    for node in ("node-1", "node-2", "node-3"):
        fleet.start(node)
    takeovers = [kill_the_runner(fleet, fleet.services[n], f"node-{n + 4}") for n in range(rounds)]
    fenced = pause_the_runner(fleet, fleet.services[rounds])
    duplicates = sum(fleet.deploys(service) - 2 for service in fleet.services)
    result: dict[str, Any] = {
        "takeover_s": round(statistics.median(takeovers), 2),
        "takeover_goal_s": TAKEOVER_GOAL_S,
        "takeover_runs": [round(t, 2) for t in takeovers],
        "duplicate_effects": duplicates,
        "fenced_writes": fenced,
        "lease_s": fleet.lease_s,
        "renew_s": fleet.runtime.config.state.lease_renew.total_seconds(),
        "interval_s": fleet.interval_s,
        "controllers": 3,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    return result


def leader(fleet: Fleet) -> Controller:
    found: Controller = wait_until(fleet.leader, "a leader", START_S)
    return found


def kill_the_runner(fleet: Fleet, service: str, replacement: str) -> float:
    """One round: the leader runs a rollback, dies by SIGKILL mid-deploy; the takeover time."""
    runner = leader(fleet)
    run_id = fleet.orphaned_rollback(service)
    wait_until(lambda: fleet.step(run_id, DEPLOY)[0] == "running", "the deploy", START_S)
    os.kill(runner.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(
        lambda: fleet.other_than(runner, fleet.holder(run_lease(run_id))), "a takeover", START_S
    )
    takeover_s = time.monotonic() - killed_at
    runner.process.wait()
    wait_until(lambda: fleet.run_state(run_id) == "succeeded", "the run to finish", START_S)
    fleet.start(replacement)
    return takeover_s


def pause_the_runner(fleet: Fleet, service: str) -> int:
    """The last round: the leader is paused mid-step past its lease, then woken; what it
    recorded after it lost the lease."""
    runner = leader(fleet)
    run_id = fleet.orphaned_rollback(service)
    wait_until(lambda: fleet.step(run_id, HEALTH)[0] == "running", "the health step", START_S)
    os.kill(runner.pid, signal.SIGSTOP)
    wait_until(lambda: fleet.other_than(runner, fleet.holder(WATCH_LEASE)), "a leader", START_S)
    wait_until(lambda: fleet.run_state(run_id) == "succeeded", "the run to finish", START_S)
    before = fleet.records(run_id)
    deploys = fleet.deploys(service)
    os.kill(runner.pid, signal.SIGCONT)
    wait_until(lambda: "stepping down" in runner.said(), "the old leader to step down", START_S)
    wait_until(lambda: "lost its lease" in runner.said(), "its run to be fenced", START_S)
    after = fleet.records(run_id)
    changed = sum(1 for key in before if before[key] != after[key])
    repeated = sum(fleet.duplicate_records(run) for run in fleet_runs(fleet))
    return changed + (fleet.deploys(service) - deploys) + repeated


def fleet_runs(fleet: Fleet) -> list[int]:
    with fleet.runtime.store.session() as session:
        return list(session.scalars(select(Run.id)))


if __name__ == "__main__":
    main()
