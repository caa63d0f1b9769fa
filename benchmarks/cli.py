"""How fast the `backout` command answers, from process start to exit, beside Python's own start.

- help_s: `backout --help`.
- status_s: `backout status` on a SQLite state store (two fake services, one release each).
- flag_disable_s: `backout flags disable KEY --reason ...` with the builtin provider (the kill
  switch; each run turns the flag off, and an `enable` between runs, not timed, turns it on).
- python_floor_s: `python -c pass` with the same interpreter: what no command can go below.
- sqlalchemy_import_s: `python -c "import sqlalchemy"`, a peer: what reading the state store
  through SQLAlchemy costs before the first query (`status` and `flags disable` pay it, with
  the collector off: see backout.cli.main).

Each figure is the median of RUNS runs of the installed console script in its own process, on a
temporary workspace; `*_runs_s` list every run. Each command runs once untimed first, with
bytecode caching on, as a package pip installed has its `.pyc` files (a PYTHONDONTWRITEBYTECODE
in the environment would have every run compile backout's sources again). `*_cpu_s` are the
medians of the CPU seconds (user + system) of the same runs: on a machine whose other work
slows the wall clock, what the command itself costs. `load_average_1m` says how busy it was.
The goals: help ≤ 0.3 s, status ≤ 0.5 s, flag disable ≤ 0.6 s. Prints one JSON object.

    python benchmarks/cli.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

BACKOUT = Path(sys.executable).with_name("backout")
FLAG = "new-checkout"
GOALS_S = {"help_s": 0.3, "status_s": 0.5, "flag_disable_s": 0.6}
ENVIRONMENT = {
    name: value
    for name, value in os.environ.items()
    if name != "PYTHONDONTWRITEBYTECODE" and not name.startswith("BACKOUT_")
}


def workspace_config(folder: Path) -> Path:
    """A backout.yaml of two fake services and one flag, its state in SQLite beside it."""
    fake = {"driver": {"type": "fake"}, "router": {"type": "fake"}}
    config = {
        "project": "bench-cli",
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "services": {
            "api": {"tier": "critical", **fake, "health": [{"type": "command", "command": "true"}]},
            "web": {"tier": "core", **fake},
        },
        "flags": {"definitions": {FLAG: {"description": "the new checkout"}}},
    }
    path = folder / "backout.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run(argv: Sequence[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds from starting `argv` to its exit, and its CPU seconds; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env=ENVIRONMENT, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def timed_runs(
    runs: int, argv: Sequence[str], cwd: Path, between: Callable[[], object] | None = None
) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each of `runs` runs, after one untimed run."""
    run(argv, cwd)  # untimed: the bytecode cache is written here
    if between is not None:
        between()
    seconds = []
    for _ in range(runs):
        seconds.append(run(argv, cwd))
        if between is not None:
            between()
    return seconds


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    value = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return round(value, 3)


def measure(runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="backout-bench-cli-") as tmp:
        folder = Path(tmp)
        config = str(workspace_config(folder))
        backout = [str(BACKOUT)]
        for service in ("api", "web"):  # the state store is created and migrated here, untimed
            run([*backout, "release", "record", service, "1.0.0", "--config", config], folder)
        run([*backout, "status", "--config", config], folder)

        def flag_on() -> None:
            run([*backout, "flags", "enable", FLAG, "--config", config], folder)

        samples = {
            "python_floor_s": timed_runs(runs, [sys.executable, "-c", "pass"], folder),
            "sqlalchemy_import_s": timed_runs(
                runs, [sys.executable, "-c", "import sqlalchemy"], folder
            ),
            "help_s": timed_runs(runs, [*backout, "--help"], folder),
            "status_s": timed_runs(runs, [*backout, "status", "--config", config], folder),
            "flag_disable_s": timed_runs(
                runs,
                [*backout, "flags", "disable", FLAG, "--reason", "bench", "--config", config],
                folder,
                between=flag_on,
            ),
        }
    wall = {name: [w for w, _ in values] for name, values in samples.items()}
    cpu = {name: [c for _, c in values] for name, values in samples.items()}
    result: dict[str, object] = {name: median(values) for name, values in wall.items()}
    result["goals_s"] = GOALS_S
    result["within_goals"] = all(median(wall[name]) <= goal for name, goal in GOALS_S.items())
    for name, values in cpu.items():
        result[name.removesuffix("_s") + "_cpu_s"] = median(values)
    result["runs"] = runs
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    result["cpu_count"] = os.cpu_count()
    for name, values in wall.items():
        result[name.removesuffix("_s") + "_runs_s"] = [round(value, 3) for value in values]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (median)")
    args = parser.parse_args()
    print(json.dumps(measure(args.runs), indent=2))


if __name__ == "__main__":
    main()
