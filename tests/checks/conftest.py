"""Real targets for the checks: an HTTP server on a loopback port, TCP ports that accept,
refuse or never answer, and a builder that goes through the registry like a config would."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from backout.checks import CHECKS, Check
from backout.config import PluginSpec
from backout.registry import PluginContext

WHERE = ("services", "api", "health", 0)


@pytest.fixture
def context(tmp_path: Path) -> PluginContext:
    return PluginContext(
        service="api",
        config_file=Path("backout.yaml"),
        base_dir=tmp_path,
        state_dir=tmp_path / ".backout",
    )


BuildCheck = Callable[..., Check]


@pytest.fixture
def build(context: PluginContext) -> BuildCheck:
    """build('http', url=...) → the check the registry makes of that config section."""

    def make(kind: str, **settings: Any) -> Check:
        return CHECKS.build(PluginSpec(type=kind, **settings), WHERE, context)

    return make


@dataclass
class Answer:
    """What the test server answers next; the test changes it between runs."""

    status: int = 200
    body: str = "ok"
    content_type: str = "text/plain; charset=utf-8"
    delay_s: float = 0.0  # before the status line
    trickle_s: float = 0.0  # between body bytes
    location: str | None = None  # for redirects


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class WebServer:
    """A real HTTP server on 127.0.0.1 whose answer each test programs."""

    port: int
    scheme: str = "http"
    answer: Answer = field(default_factory=Answer)
    routes: dict[str, Answer] = field(default_factory=dict)  # path → answer, else `answer`
    seen: list[Seen] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def respond(self, path: str | None = None, **answer: Any) -> None:
        """Program the next answers: to `path` only, or to every path without its own."""
        if path is None:
            self.answer = Answer(**answer)
        else:
            self.routes[path] = Answer(**answer)

    def url(self, path: str = "/health") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        web = self.server.web
        web.seen.append(Seen(self.command, self.path, dict(self.headers.items())))
        answer = web.routes.get(self.path, web.answer)
        if web.stopping.wait(answer.delay_s):
            return
        body = answer.body.encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(body)))
        if answer.location is not None:
            self.send_header("Location", answer.location)
        self.end_headers()
        if self.command == "HEAD":
            return
        for index in range(len(body)):
            if answer.trickle_s and web.stopping.wait(answer.trickle_s):
                return
            self.wfile.write(body[index : index + 1])
            self.wfile.flush()

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        scheme = "http" if tls is None else "https"
        self.web = WebServer(port=self.server_address[1], scheme=scheme)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a slow answer is what the slow tests cause


def _serve(server: _Server) -> Iterator[WebServer]:
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server.web
    server.web.stopping.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def web() -> Iterator[WebServer]:
    yield from _serve(_Server())


@pytest.fixture
def tls_web(tmp_path: Path) -> Iterator[WebServer]:
    """The same server behind TLS with a self-signed certificate (made by the openssl CLI)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    yield from _serve(_Server(tls))


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port that listens but never completes a handshake: its accept queue is full, so the
    kernel drops new SYNs and a client waits until its own timeout."""
    held: list[socket.socket] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        try:
            if not _fill_accept_queue(port, held):
                pytest.fail("could not fill the accept queue of a listening socket")
            yield port
        finally:
            for client in held:
                client.close()


def _fill_accept_queue(port: int, held: list[socket.socket]) -> bool:
    """Connect until one connection hangs; True once the queue is full."""
    for _ in range(16):
        client = socket.socket()
        client.settimeout(0.2)
        held.append(client)
        try:
            client.connect(("127.0.0.1", port))
        except TimeoutError:
            return True
    return False
