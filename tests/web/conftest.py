"""The API under test: a real uvicorn server on a loopback port over a real state store,
a `backout.yaml` with the fake driver, releases 1.0.0 (good) and 1.1.0 (live) of each
service, and one token per role."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from web_support import SERVICES, Api, OpenRuntime, Serve, Tokens, write_config

from backout.operations.deploy import record_release
from backout.operations.tokens import Role, create_token
from backout.releases import ReleaseStatus
from backout.runtime import Runtime
from backout.web import create_app


@pytest.fixture
def open_runtime(tmp_path: Path) -> Iterator[OpenRuntime]:
    """Factory: a runtime over a fresh config (fake driver settings for `api` as keywords)."""
    opened: list[Runtime] = []

    def make(**driver: Any) -> Runtime:
        runtime = Runtime.open(write_config(tmp_path, **driver))
        opened.append(runtime)
        for service in SERVICES:
            for version, status in (("1.0.0", ReleaseStatus.GOOD), ("1.1.0", ReleaseStatus.LIVE)):
                record_release(runtime, service, version, ref=None, actor="test", status=status)
        return runtime

    yield make
    for runtime in opened:
        runtime.close()


@pytest.fixture
def runtime(open_runtime: OpenRuntime) -> Runtime:
    return open_runtime()


@pytest.fixture
def tokens(runtime: Runtime) -> Tokens:
    made = {r: create_token(runtime, r.name.lower(), r, actor="test") for r in Role}
    return Tokens(made[Role.VIEWER], made[Role.OPERATOR], made[Role.APPROVER])


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Factory: serve(runtime, watch=False) starts the app under uvicorn and returns a client."""
    started: list[tuple[uvicorn.Server, threading.Thread, httpx.Client]] = []

    def start(runtime: Runtime, *, watch: bool = False) -> Api:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))  # a free port, held until uvicorn listens on it
        port = listener.getsockname()[1]
        app = create_app(runtime, watch=watch)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start in 10s"
            time.sleep(0.01)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        started.append((server, thread, client))
        return Api(client)

    yield start
    for server, thread, client in started:
        client.close()
        server.should_exit = True
        thread.join(15)
        assert not thread.is_alive(), "the server did not stop in 15s"


@pytest.fixture
def api(serve: Serve, runtime: Runtime) -> Api:
    """The server over `runtime`, without the watch loop (so nothing happens on its own)."""
    return serve(runtime)
