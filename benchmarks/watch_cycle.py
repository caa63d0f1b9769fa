"""How long one watch cycle takes as the number of services grows.

For each count N (default 10, 100, 1000, 10000): a temporary workspace whose config has
N services on the fake driver with a `fake` metric source (healthy values) and one trigger each,
a SQLite state store holding one live release of each that was marked good (so the cycle judges
every service: its live release, locks, whether a person stopped it, the last run's end, the
last known good's baseline, one snapshot, its triggers). One cycle runs untimed first (the
triggers are armed then), then CYCLES timed cycles; the median is reported.

watch_cycle_s_by_services: {N: median seconds}; per_service_ms: the same divided by N (flat
when the cycle grows linearly). The goal: 1,000 services under 1 s, growing linearly.
Prints one JSON object.

    python benchmarks/watch_cycle.py [--counts 10,100,1000,10000] [--cycles 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from backout import releases
from backout.config import parse_config
from backout.controller.watch import Watcher
from backout.releases import ReleaseStatus
from backout.runtime import Runtime, validate_plugins
from backout.store import Store

GOAL_S = {1000: 1.0}


def service(index: int) -> dict[str, Any]:
    return {
        "tier": "core",
        "driver": {"type": "fake"},
        "metrics": {"type": "fake"},
        "triggers": [{"name": "errors", "metric": "error_rate", "above": 0.05, "for": "10s"}],
        "bake_time": "1m",
    }


def workspace(root: Path, count: int) -> Runtime:
    config = {
        "project": "watch-cycle-benchmark",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "services": {f"svc-{i:05d}": service(i) for i in range(count)},
    }
    # Built in memory: 10,000 services are beyond what a backout.yaml may hold (1 MiB), and the
    # file's parsing is not what is measured.
    parsed = parse_config(config, root / "backout.yaml")
    validate_plugins(parsed)
    runtime = Runtime(parsed, Store.open(parsed.database_url()))
    with runtime.store.session() as session:  # one transaction: seeding is not what is measured
        for name in config["services"]:
            release = releases.record(
                session, runtime.environment, name, "1.0.0", ref=None, actor="bench"
            )
            releases.mark(release, ReleaseStatus.GOOD)
            releases.record_deployment(session, release, actor="bench")
    return runtime


def measure(count: int, cycles: int) -> float:
    with tempfile.TemporaryDirectory(prefix="backout-watch-cycle-") as folder:
        runtime = workspace(Path(folder), count)
        try:
            watcher = Watcher(runtime)
            decisions = watcher.run_cycle()  # arms every service's triggers
            assert all("healthy" in d for d in decisions), decisions[:3]
            seconds = []
            for _ in range(cycles):
                started = time.perf_counter()
                watcher.run_cycle()
                seconds.append(time.perf_counter() - started)
            return statistics.median(seconds)
        finally:
            runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10,100,1000,10000")
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    by_count = {count: measure(count, args.cycles) for count in counts}
    print(
        json.dumps(
            {
                "watch_cycle_s_by_services": {str(n): round(s, 4) for n, s in by_count.items()},
                "per_service_ms": {str(n): round(s * 1000 / n, 3) for n, s in by_count.items()},
                "goal_1000_under_s": GOAL_S[1000],
                "cycles": args.cycles,
                "load_average_1m": round(os.getloadavg()[0], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
