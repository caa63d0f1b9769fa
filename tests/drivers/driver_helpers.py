"""Real services for the driver tests: a tiny HTTP server, its git repository, free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from backout.config import PluginSpec
from backout.drivers import DRIVERS, Driver
from backout.registry import PluginContext

# Answers every GET with "<version> <pid>". Usage: server.py PORT [VERSION] [--ignore-sigterm];
# without VERSION it reads the file VERSION in its working folder (as a checked-out release).
SERVER = """\
import os, pathlib, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

args = [a for a in sys.argv[1:] if not a.startswith("--")]
port = int(args[0])
version = args[1] if len(args) > 1 else pathlib.Path("VERSION").read_text().strip()
if "--ignore-sigterm" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{version} {os.getpid()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", port), Handler)
print(f"serving {version} on {port}", flush=True)
server.serve_forever()
"""

# The repository's install and build steps: each appends "<phase> <version>" to $BUILD_JOURNAL;
# the build writes built.txt, or fails like a compiler when the file $FAIL_BUILD_IF exists.
BUILD = """\
import os, pathlib, sys

phase = sys.argv[1]
version = pathlib.Path("VERSION").read_text().strip()
with open(os.environ["BUILD_JOURNAL"], "a") as journal:
    journal.write(f"{phase} {version}\\n")
if phase == "build":
    if os.path.exists(os.environ["FAIL_BUILD_IF"]):
        print("src/courts.ts(12,5): error TS2304: Cannot find name 'Court'.")
        sys.exit(2)
    pathlib.Path("built.txt").write_text(version)
"""

GIT_IDENTITY = ["-c", "user.name=Release Bot", "-c", "user.email=bot@example.test"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_server(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "server.py").write_text(SERVER)
    return folder


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit_version(repo: Path, version: str, tag: str | None) -> str:
    """Commit the app at `version`, tag it `tag` if given; return the commit id."""
    (repo / "VERSION").write_text(version + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"release {version}")
    if tag:
        git(repo, "tag", tag)
    return git(repo, "rev-parse", "HEAD")


def git_build_settings(tmp_path: Path, port: int, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "repo": "app-repo",
        "install": ["{python} build.py install"],
        "build": ["{python} build.py build"],
        "start": "{python} server.py {port}",
        "port": port,
        "stop_timeout": "3s",
        "env": {
            "BUILD_JOURNAL": str(tmp_path / "build-journal.txt"),
            "FAIL_BUILD_IF": str(tmp_path / "fail-the-build"),
        },
    }
    settings.update(overrides)
    return settings


def build_driver(kind: str, settings: dict[str, Any], base_dir: Path) -> Driver:
    """Build a driver as backout does from a config section, e.g. in a new CLI process."""
    context = PluginContext(
        service="web",
        config_file=base_dir / "backout.yaml",
        base_dir=base_dir,
        state_dir=base_dir / ".backout",
    )
    spec = PluginSpec(type=kind, **settings)
    return DRIVERS.build(spec, ("services", "web", "driver"), context)


def answer(port: int, *, wait: float = 5.0) -> str | None:
    """The service's answer on `port`, polling up to `wait` seconds; None if nothing answers."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                body: bytes = response.read()
                return body.decode()
        except OSError:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def python_command(code: str, *args: str) -> list[str]:
    """A command list running `code` with the interpreter running backout."""
    return ["{python}", "-c", code, *args]


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `code` in a new interpreter: another backout process, as a second CLI call is."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
