"""Time to detect and to recover of `backout quickstart`, against the demo app's cold start.

Runs the quickstart RUNS times (each a fresh workspace) and, in the same run, starts the demo
app's good release by hand RUNS times, timing how long it takes to answer its first healthy
request: the floor any rollback that restarts a process pays. Prints one JSON object.

    python benchmarks/rollback.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from backout.demo import DATABASE_ENV, HEALTH_PATH, START_COMMAND
from backout.quickstart.workspace import free_port

BACKOUT = str(Path(sys.executable).parent / "backout")


def quickstart(root: Path, index: int) -> dict[str, Any]:
    workspace = root / f"run-{index}"
    done = subprocess.run(
        [BACKOUT, "quickstart", "--json", "--workspace", str(workspace)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"quickstart run {index} failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def cold_start(release_dir: Path, data_dir: Path) -> float:
    """Seconds from starting the good release to its first healthy answer."""
    port = free_port()
    command = START_COMMAND.format(python=sys.executable, port=port)
    env = {DATABASE_ENV: str(data_dir / "cold-start.db"), "PATH": "/usr/bin:/bin"}
    started = time.perf_counter()
    process = subprocess.Popen(
        shlex.split(command),
        cwd=release_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(timeout=1.0) as client:
            while time.perf_counter() - started < 30:
                try:
                    if client.get(f"http://127.0.0.1:{port}{HEALTH_PATH}").status_code == 200:
                        return time.perf_counter() - started
                except httpx.HTTPError:
                    pass
                time.sleep(0.005)
        raise SystemExit("the demo app did not become healthy in 30s")
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="backout-bench-") as tmp:
        root = Path(tmp)
        results = [quickstart(root, i) for i in range(runs)]
        good_release = Path(results[0]["workspace"]) / ".backout" / "releases" / "backend" / "1.0.0"
        cold = [cold_start(good_release, root) for _ in range(runs)]
    detect = [r["time_to_detect_s"] for r in results]
    recover = [r["time_to_recover_s"] for r in results]
    median_recover, median_cold = statistics.median(recover), statistics.median(cold)
    print(
        json.dumps(
            {
                "runs": runs,
                "all_rolled_back": all(r["rolled_back"] for r in results),
                "median_time_to_detect_s": round(statistics.median(detect), 3),
                "median_time_to_recover_s": round(median_recover, 3),
                "median_cold_start_s": round(median_cold, 3),
                "recover_to_cold_start_ratio": round(median_recover / median_cold, 2),
                "time_to_detect_s": [round(v, 3) for v in detect],
                "time_to_recover_s": [round(v, 3) for v in recover],
                "cold_start_s": [round(v, 3) for v in cold],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
