"""Real pm2 for the driver tests: pm2 7 from tests/node/node_modules (`make node-deps`), one
daemon per test in its own short PM2_HOME, killed at teardown."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from backout.clock import wait_until
from backout.drivers._pids import is_alive
from tests.drivers.driver_helpers import write_server
from tests.pg_fixtures import running_in_ci

REPO = Path(__file__).resolve().parents[2]
PM2 = REPO / "tests" / "node" / "node_modules" / ".bin" / "pm2"

# Runs server.py (driver_helpers.SERVER), unless the file named by $CRASH_IF exists: then it
# says so on stderr and exits 1 at once, as an app whose config broke does under pm2's restarts.
CRASHY = """\
import os, runpy, sys
crash_if = os.environ.get("CRASH_IF")
if crash_if and os.path.exists(crash_if):
    sys.exit(f"crash requested by {crash_if}")
runpy.run_path("server.py", run_name="__main__")
"""


def pm2_missing() -> str | None:
    """Why pm2 cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (pm2 runs on Node)"
    if not PM2.exists():
        return f"pm2 is not installed at {PM2}: run `make node-deps`"
    return None


def write_pm2_app(folder: Path, *, name: str = "web", **options: Any) -> Path:
    """The test server and an ecosystem file starting it under pm2 with this interpreter; the
    app gets its port and version from the environment `pm2 start` runs in."""
    write_server(folder)
    (folder / "crashy.py").write_text(CRASHY)
    app = {
        "name": name,
        "script": "crashy.py",
        "interpreter": sys.executable,
        "kill_timeout": 3000,
        **options,
    }
    # The args are JavaScript, read when pm2 loads the file: the environment of `pm2 start`.
    (folder / "ecosystem.config.js").write_text(
        f"const app = {json.dumps(app)};\n"
        "app.args = [process.env.PORT, process.env.BACKOUT_VERSION];\n"
        "module.exports = { apps: [app] };\n"
    )
    return folder


@contextmanager
def pm2_home_for_test() -> Iterator[Path]:
    """A PM2_HOME of its own (short: pm2's socket paths must fit in 107 bytes, tmp_path's
    do not), its daemon killed with `pm2 kill` at the end."""
    missing = pm2_missing()
    if missing is not None:
        if running_in_ci():
            pytest.fail(f"CI is set and {missing}", pytrace=False)
        pytest.skip(missing)
    home = Path(tempfile.mkdtemp(prefix="pm2-"))
    try:
        yield home
    finally:
        kill_daemon(home)
        shutil.rmtree(home, ignore_errors=True)


def kill_daemon(home: Path) -> None:
    """`pm2 kill` the daemon of `home` (and its apps); SIGKILL it if that does not work."""
    pid_file = home / "pm2.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    env = {**os.environ, "PM2_HOME": str(home)}
    subprocess.run([str(PM2), "kill"], env=env, capture_output=True, timeout=60, check=False)
    if is_alive(pid, None):
        os.kill(pid, 9)
        assert wait_until(lambda: not is_alive(pid, None), 5)


def pm2_settings(home: Path, port: int, **overrides: Any) -> dict[str, Any]:
    """A pm2 driver section for the app that write_pm2_app wrote in tmp_path/app."""
    settings: dict[str, Any] = {
        "pm2": str(PM2),
        "pm2_home": str(home),
        "cwd": "app",
        "port": port,
        "start_timeout": "20s",
    }
    settings.update(overrides)
    return settings
