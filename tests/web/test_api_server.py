"""The server's own life: the watch loop inside it, runs resumed at start, a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from web_support import Serve, Tokens

from backout.errors import UnavailableError
from backout.operations import views
from backout.runtime import Runtime
from backout.web import serve as serve_forever

SERVE_SCRIPT = """
import sys
from backout.operations import views
from backout.runtime import Runtime
from backout.web import serve

runtime = Runtime.open(sys.argv[1])
try:
    serve(runtime, host="127.0.0.1", port=int(sys.argv[2]))
finally:
    runtime.close()
print("stopped cleanly")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_watch_loop_runs_inside_the_server_and_says_what_it_decided(
    serve: Serve, runtime: Runtime, tokens: Tokens
) -> None:
    api = serve(runtime, watch=True)
    deadline = time.monotonic() + 10

    watch = api.get("/api/v1/watch", tokens.viewer).json()
    while len(watch["decisions"]) < 2:
        assert time.monotonic() < deadline, watch
        time.sleep(0.02)
        watch = api.get("/api/v1/watch", tokens.viewer).json()

    assert watch == {
        "watching": True,
        "decisions": {
            "api": "api 1.1.0: no probe configured, triggers unarmed",
            "worker": "worker 1.1.0: no probe configured, triggers unarmed",
        },
    }


def test_a_server_without_the_watch_loop_says_so(
    serve: Serve, runtime: Runtime, tokens: Tokens
) -> None:
    api = serve(runtime, watch=False)

    assert api.get("/api/v1/watch", tokens.viewer).json() == {"watching": False, "decisions": {}}


def test_a_run_left_unfinished_is_resumed_when_the_server_starts(
    serve: Serve, runtime: Runtime, tokens: Tokens
) -> None:
    crashed = subprocess.run(
        [
            str(Path(sys.executable).parent / "backout"),
            "rollback",
            "api",
            "--yes",
            "--reason",
            "left by a dead process",
            "--config",
            str(runtime.config.source),
        ],
        env={**os.environ, "BACKOUT_FAILPOINTS": "executor.after_step=1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    [left] = views.list_runs(runtime)
    run_id = left["id"]
    assert left["state"] == "running"

    api = serve(runtime)

    run = api.wait_for_run(run_id, tokens.viewer)
    assert run["state"] == "succeeded", run
    assert run["to_version"] == "1.0.0"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_cleanly_on_a_signal(
    runtime: Runtime, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(runtime.config.source), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, server.communicate()
            assert time.monotonic() < deadline, "the server did not answer in 20s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)

        server.send_signal(stop_signal)
        out, err = server.communicate(timeout=20)
    finally:
        server.kill()
        server.wait()

    assert server.returncode == 0, err
    assert out.splitlines()[-1] == "stopped cleanly"
    assert "Traceback" not in err


def test_serve_reports_a_port_already_in_use(runtime: Runtime) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(UnavailableError, match=f"could not start on 127.0.0.1:{port}"):
            serve_forever(runtime, host="127.0.0.1", port=port, watch=False)
