"""A real HAProxy for the tests: started as a plain process (`-db`, foreground, so its pid is
ours) on free loopback ports, with an admin socket and a server-state file in a temp folder, in
front of two "slots" (small HTTP servers that answer with their slot's name).

`backend_definition()` is the definition docs/platforms.md tells users to write: the tests run
the product's advice, not a simplified copy.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.prometheus_support import free_port, wait_for


def backend_definition(backend: str, slot_ports: list[int]) -> str:
    """The backend section backout's haproxy router expects (see docs/platforms.md)."""
    servers = "\n".join(
        f"    server slot{i} 127.0.0.1:{port} check inter 200ms fall 2 rise 2"
        for i, port in enumerate(slot_ports, start=1)
    )
    return f"""\
backend {backend}
    balance roundrobin
    option httpchk GET /
    load-server-state-from-file global
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 503
{servers}
"""


@dataclass
class Haproxy:
    folder: Path
    frontend_port: int
    slot_ports: list[int]
    backend: str = "app"
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.folder / "admin.sock"

    @property
    def state_file(self) -> Path:
        return self.folder / "server-state"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.frontend_port}/"

    def config(self) -> str:
        return f"""\
global
    stats socket {self.socket} mode 600 level admin
    server-state-file {self.state_file}

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout queue 10s

frontend web
    bind 127.0.0.1:{self.frontend_port}
    default_backend {self.backend}

{backend_definition(self.backend, self.slot_ports)}"""

    def start(self) -> None:
        path = self.folder / "haproxy.cfg"
        path.write_text(self.config(), encoding="utf-8")
        log = (self.folder / "haproxy.log").open("ab")
        self.process = subprocess.Popen(
            ["haproxy", "-db", "-f", str(path)], stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(self._answers, "HAProxy's admin socket", 15.0)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
        self.socket.unlink(missing_ok=True)

    def reload(self) -> None:
        """A new HAProxy process from the same config, as a reload starts one."""
        self.stop()
        self.start()

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.folder / "haproxy.log").read_text(errors="replace")
            raise RuntimeError(f"haproxy exited with {self.process.returncode}:\n{log}")
        try:
            with socket.socket(socket.AF_UNIX) as conn:
                conn.connect(str(self.socket))
        except OSError:
            return False
        return True


class SlotServer:
    """A tiny HTTP server on a loopback port that answers `slot <port>`."""

    def __init__(self, port: int) -> None:
        body = f"slot {port}".encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.port = port
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def haproxy(tmp_path: Path) -> Iterator[Haproxy]:
    """A running HAProxy in front of two live slot servers; stopped at teardown."""
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: run scripts/ensure-system-deps.sh")
    ports = [free_port(), free_port()]
    slots = [SlotServer(port) for port in ports]
    proxy = Haproxy(tmp_path / "haproxy", free_port(), ports)
    proxy.folder.mkdir()
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
        for slot in slots:
            slot.close()


def locator(ports: dict[str, int]) -> Callable[[str], int | None]:
    """Where each version runs, as a driver would say it."""
    return ports.get
