"""Helpers of the client-API tests: a config with flags, a real uvicorn server on a loopback
port that a test may stop, the real `backout` CLI in another process, a server-sent-event
reader, and polling with a deadline."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from fastapi import FastAPI

from backout.operations.flags import flag_detail
from backout.operations.tokens import Role, create_token
from backout.runtime import Runtime
from backout.web import create_app
from backout.web.streaming_server import StreamingServer

BACKOUT = Path(sys.executable).with_name("backout")
FLAGS: dict[str, Any] = {
    "checkout": {"description": "The new checkout", "rollout": 30},
    "dark-mode": {"enabled": False},
    "banner": {
        "description": "A colour per user",
        "variants": [
            {
                "name": colour,
                "weight": 500,
                "weightType": "variable",
                "stickiness": "default",
                "payload": {"type": "string", "value": colour},
            }
            for colour in ("blue", "green")
        ],
    },
}
USERS = [str(n) for n in range(300)]


def write_flag_config(directory: Path, provider: str = "builtin") -> Path:
    config = {
        "project": "flags-test",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "services": {},
        "flags": {"provider": {"type": provider}, "definitions": FLAGS},
    }
    path = directory / "backout.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def token(runtime: Runtime, role: Role = Role.CLIENT, name: str | None = None) -> str:
    return create_token(runtime, name or f"{role.name.lower()}-app", role, actor="test")


def backout_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `backout` program, in its own process, against the same state store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOUT_")}
    done = subprocess.run(
        [str(BACKOUT), *args, "--config", str(config)],
        cwd=config.parent,
        env={**env, "BACKOUT_ACTOR": "oncall@test"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def last_change_at(runtime: Runtime, flag: str) -> float:
    """When the last change of `flag` was recorded (time.time()), by whichever process."""
    return datetime.fromisoformat(flag_detail(runtime, flag)["changes"][0]["at"]).timestamp()


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = 5.0) -> Any:
    """Poll `check` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s}s"
        time.sleep(0.01)


@dataclass
class FlagServer:
    """`create_app` under uvicorn on 127.0.0.1, as a StreamingServer (its streams end when it
    stops)."""

    app: FastAPI
    port: int
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        """The URL the Unleash SDKs take."""
        return f"{self.url}/api"

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive(), "the server did not stop in 15s"


def start_server(
    runtime: Runtime, *, wrap: Callable[[Any], Any] | None = None, **app_options: Any
) -> FlagServer:
    """Serve `create_app(runtime, watch=False, **app_options)`, through `wrap` if given."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    app = create_app(runtime, watch=False, **app_options)
    served = wrap(app) if wrap is not None else app
    server = StreamingServer(uvicorn.Config(served, log_level="warning"), app.state.flag_feed)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), "the server started", 10)
    assert thread.is_alive(), "the server stopped while starting"
    return FlagServer(app, listener.getsockname()[1], server, thread)


@contextmanager
def serving(runtime: Runtime, **app_options: Any) -> Iterator[FlagServer]:
    server = start_server(runtime, **app_options)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Event:
    name: str
    data: str
    id: str
    at: float  # time.time() when it arrived


@dataclass
class EventReader:
    """A text/event-stream read in a thread; events and comments queue up for the test."""

    url: str
    headers: dict[str, str]
    events: queue.Queue[Event] = field(default_factory=queue.Queue)
    comments: queue.Queue[str] = field(default_factory=queue.Queue)
    status: int | None = None
    error: Exception | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    _client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    _thread: threading.Thread | None = None

    def start(self) -> EventReader:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def next(self, timeout_s: float = 5.0) -> Event:
        try:
            return self.events.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout_s}s") from None

    def close(self) -> None:
        self._client.close()

    def _read(self) -> None:
        name, data, event_id = "message", [], ""
        try:
            with self._client.stream("GET", self.url, headers=self.headers) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    if line.startswith(":"):
                        self.comments.put(line)
                    elif line:
                        key, _, value = line.partition(": ")
                        if key == "event":
                            name = value
                        elif key == "data":
                            data.append(value)
                        elif key == "id":
                            event_id = value
                    elif data:
                        self.events.put(Event(name, "\n".join(data), event_id, time.time()))
                        name, data = "message", []
        except Exception as error:  # the stream broke or was closed: `ended` says so
            self.error = error
        finally:
            self.ended.set()
