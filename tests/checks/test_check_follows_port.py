"""`{port}` in a health check is where the version under check runs: the health step asks the
driver (a slot's port for a driver with two, else its one port) and the check goes there."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from backout.errors import ConfigError
from backout.runtime import Runtime
from tests.prometheus_support import free_port


@pytest.fixture
def answering_port() -> Iterator[int]:
    """A real HTTP server on loopback answering 200 to every GET."""

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    config = {
        "project": "port-test",
        "services": {
            "api": {
                "tier": "critical",
                "driver": {"type": "fake"},
                "health": [{"type": "http", "url": "http://127.0.0.1:{port}/health"}],
            }
        },
    }
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(config))
    opened = Runtime.open(path)
    yield opened
    opened.close()


def test_the_check_goes_to_the_port_it_is_given(runtime: Runtime, answering_port: int) -> None:
    aimed = runtime.health_checks_at("api", lambda: answering_port)
    elsewhere = runtime.health_checks_at("api", free_port)

    assert [check.run(2.0).ok for check in aimed] == [True]
    assert [check.run(2.0).ok for check in elsewhere] == [False]


def test_a_port_placeholder_with_no_port_known_is_a_clear_error(runtime: Runtime) -> None:
    with pytest.raises(ConfigError, match=r"\{port\} is used, but its driver knows no port"):
        runtime.health_checks_at("api", lambda: None)


def test_checks_without_the_placeholder_never_ask_for_a_port(tmp_path: Path) -> None:
    config = {
        "project": "port-test",
        "services": {"api": {"tier": "critical", "driver": {"type": "fake"}}},
    }
    path = tmp_path / "backout.yaml"
    path.write_text(yaml.safe_dump(config))
    runtime = Runtime.open(path)

    def no_port() -> int | None:
        raise AssertionError("the port was asked for")

    assert runtime.health_checks_at("api", no_port) == []
    runtime.close()
