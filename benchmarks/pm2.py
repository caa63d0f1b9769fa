"""What the pm2 driver adds on top of pm2 itself, on a real pm2 daemon (`make node-deps`).

- switch_s: `Pm2Driver.deploy()` of the other version (1.0.0 ↔ 1.1.0) until the new version
  answers on its port; raw_switch_s: the runbook's commands by hand, `pm2 delete APP` then
  `pm2 start ecosystem.config.js --only APP --env production`, until the same answer.
- status_s: `Pm2Driver.status()`; raw_status_s: `pm2 jlist`.

Medians of RUNS runs each (`*_runs_s` list every run), each kind after one untimed run, on a
temporary daemon killed at the end; `*_ratio` is the driver's median over the raw one.
`load_average_1m` says how busy the machine was. Prints one JSON object.

    python benchmarks/pm2.py [--runs 7]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from backout.config import PluginSpec
from backout.drivers import DRIVERS, Driver, ReleaseRef
from backout.registry import PluginContext

PM2 = Path(__file__).resolve().parents[1] / "tests" / "node" / "node_modules" / ".bin" / "pm2"
APP = "bench"
ANSWER_TIMEOUT_S = 30.0
SERVER = """\
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ["BACKOUT_VERSION"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def write_app(folder: Path) -> None:
    (folder / "server.py").write_text(SERVER)
    app = {"name": APP, "script": "server.py", "interpreter": sys.executable, "kill_timeout": 3000}
    (folder / "ecosystem.config.js").write_text(
        f"module.exports = {{ apps: [{json.dumps(app)}] }};\n"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def await_answer(port: int, version: str) -> None:
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                if response.read().decode() == version:
                    return
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"{version} never answered on port {port}")


def pm2(home: Path, folder: Path, *args: str, **env: str) -> str:
    done = subprocess.run(
        [str(PM2), *args],
        cwd=folder,
        env={**os.environ, **env, "PM2_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"pm2 {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done.stdout


def timed_pair(
    runs: int, ours: Callable[[], object], raw: Callable[[], object]
) -> tuple[list[float], list[float]]:
    """Seconds of each of `runs` calls of ours() and of raw(), taken in turns (so that the
    machine's other work weighs on both alike), after one untimed call of each."""
    ours()
    raw()
    seconds: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for action, kept in ((ours, seconds[0]), (raw, seconds[1])):
            started = time.perf_counter()
            action()
            kept.append(time.perf_counter() - started)
    return seconds


def measure(runs: int, folder: Path, home: Path) -> dict[str, object]:
    port = free_port()
    context = PluginContext(
        service=APP,
        config_file=folder / "backout.yaml",
        base_dir=folder,
        state_dir=folder / ".backout",
    )
    spec = PluginSpec(type="pm2", pm2=str(PM2), pm2_home=str(home), port=port)
    driver: Driver = DRIVERS.build(spec, ("services", APP, "driver"), context)
    versions = itertools.cycle(["1.1.0", "1.0.0"])  # every switch, ours or raw, to the other

    def switch() -> None:
        version = next(versions)
        driver.deploy(ReleaseRef(APP, version))
        await_answer(port, version)

    def raw_switch() -> None:
        version = next(versions)
        pm2(home, folder, "delete", APP)
        env = {"PORT": str(port), "BACKOUT_VERSION": version}
        pm2(
            home,
            folder,
            "start",
            "ecosystem.config.js",
            "--only",
            APP,
            "--env",
            "production",
            **env,
        )
        await_answer(port, version)

    figures: dict[str, list[float]] = {}
    figures["switch_s"], figures["raw_switch_s"] = timed_pair(runs, switch, raw_switch)
    figures["status_s"], figures["raw_status_s"] = timed_pair(
        runs, driver.status, lambda: pm2(home, folder, "jlist")
    )
    result: dict[str, object] = {}
    for name, values in figures.items():
        result[name] = round(statistics.median(values), 3)
        result[name.removesuffix("_s") + "_runs_s"] = [round(v, 3) for v in values]
    for name in ("switch", "status"):
        ours, raw = (statistics.median(figures[key]) for key in (f"{name}_s", f"raw_{name}_s"))
        result[f"{name}_ratio"] = round(ours / raw, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    if not PM2.exists():
        raise SystemExit(f"pm2 is not installed at {PM2}: run `make node-deps`")
    folder = Path(tempfile.mkdtemp(prefix="bench-pm2-"))
    home = Path(tempfile.mkdtemp(prefix="pm2-"))
    write_app(folder)
    try:
        result = measure(runs, folder, home)
    finally:
        pm2(home, folder, "kill")
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    package = json.loads((PM2.resolve().parents[1] / "package.json").read_text())
    result.update(runs=runs, pm2_version=package["version"])
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
