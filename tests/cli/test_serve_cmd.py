"""`backout serve`: the REST API answers on the port asked for, opens to a token that
`backout token create` made, stops cleanly on SIGTERM, and says so when the port is taken."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

UNAVAILABLE = 8


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_answering(server: subprocess.Popen[str], base: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"backout serve ended with {server.returncode}: {server.communicate()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    pytest.fail(f"backout serve did not answer on {base} within {timeout}s")


def test_serve_answers_with_a_cli_made_token_and_stops_on_sigterm(live_api: Backout) -> None:
    token = live_api.ok("token", "create", "dashboard").stdout.strip()
    port = free_port()
    server = live_api.start("serve", "--port", str(port), "--no-watch")
    base = f"http://127.0.0.1:{port}"
    wait_until_answering(server, base)

    anonymous = httpx.get(f"{base}/api/v1/services", timeout=5.0)
    services = httpx.get(
        f"{base}/api/v1/services", headers={"Authorization": f"Bearer {token}"}, timeout=5.0
    )
    server.send_signal(signal.SIGTERM)
    _, stderr = server.communicate(timeout=30)

    assert anonymous.status_code == 401
    assert services.status_code == 200, services.text
    assert [(s["service"], s["live_version"]) for s in services.json()] == [
        ("api", "1.1.0"),
        ("web", None),
    ]
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_serve_on_a_port_in_use_exits_8_and_says_why(backout: Backout) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = backout("serve", "--port", str(port), "--no-watch")

    result.refused(
        UNAVAILABLE, f"the API server could not start on 127.0.0.1:{port}", "another process"
    )
