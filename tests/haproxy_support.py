"""A real HAProxy for the tests: the platforms quickstart's (a plain process in the foreground,
so its pid is ours) on free loopback ports, with an admin socket and a server-state file in a
temp folder, in front of two "slots" (small HTTP servers that answer with their slot's name).

Its backend is the definition docs/platforms.md tells users to write
(`backend_definition()`): the tests run the product's advice, not a simplified copy.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from backout.quickstart.platforms._children import Child
from backout.quickstart.platforms.haproxy import HaproxySite, start_haproxy
from tests.prometheus_support import free_port


@dataclass
class Haproxy:
    """The quickstart's HAProxy (backout.quickstart.platforms.haproxy), driven by a test."""

    folder: Path
    frontend_port: int
    slot_ports: list[int]
    backend: str = "app"
    child: Child | None = None

    @property
    def site(self) -> HaproxySite:
        return HaproxySite(self.folder, self.frontend_port, self.slot_ports, self.backend)

    @property
    def socket(self) -> Path:
        return self.site.admin_socket

    @property
    def state_file(self) -> Path:
        return self.site.state_file

    @property
    def url(self) -> str:
        return f"{self.site.url}/"

    def start(self) -> None:
        self.child = start_haproxy(self.site)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None
        self.socket.unlink(missing_ok=True)

    def reload(self) -> None:
        """A new HAProxy process from the same config, as a reload starts one."""
        self.stop()
        self.start()


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
