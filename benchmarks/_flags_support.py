"""The kill switch's half of benchmarks/flags.py: a real `backout serve` on a temporary
workspace, the real `backout` CLI changing a flag in its own process, and fleets of clients
that each note the wall time they first see the change.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import yaml
from _processes import stop_gracefully

from backout.flags import Evaluator
from backout.flags.client import FlagClient
from backout.quickstart.workspace import free_port

BACKOUT = str(Path(sys.executable).with_name("backout"))
KILL_SWITCH_FLAG = "payments-v2"
CLI_TIMEOUT_S = 120


# -- a real `backout serve`, and the real CLI


@dataclass(frozen=True)
class Workspace:
    """A backout.yaml with SQLite state and the flags defined, and a client token."""

    config: Path
    token: str

    @property
    def database(self) -> Path:
        return self.config.parent / "state.db"


def make_workspace(directory: Path, definitions: dict[str, Any]) -> Workspace:
    """backout.yaml with SQLite state and the flags `definitions`, and a client token."""
    config = directory / "backout.yaml"
    settings = {
        "project": "flags-bench",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "services": {},
        "flags": {"provider": {"type": "builtin"}, "definitions": definitions},
    }
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    created = cli(config, "token", "create", "bench", "--role", "client")
    return Workspace(config, created.stdout.strip())


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `backout` program in its own process (killed if this one is interrupted)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BACKOUT_")}
    done = subprocess.run(
        [BACKOUT, *args, "--config", str(config)],
        cwd=config.parent,
        env={**env, "BACKOUT_ACTOR": "bench"},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"backout {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


@dataclass(frozen=True)
class Change:
    """When a flag change was stored: the flag row's update, and its flag_changes row."""

    updated_at: float  # flags.updated_at: set just before the flag's row is committed
    recorded_at: float  # flag_changes.at: inserted in the next transaction


def last_change(database: Path, key: str) -> Change:
    with sqlite3.connect(database) as db:
        (updated,) = db.execute("SELECT updated_at FROM flags WHERE key = ?", (key,)).fetchone()
        (recorded,) = db.execute(
            "SELECT at FROM flag_changes WHERE key = ? ORDER BY id DESC LIMIT 1", (key,)
        ).fetchone()
    return Change(_stored_time(updated), _stored_time(recorded))


def _stored_time(text: str) -> float:
    """A time as backout's store writes it in SQLite: UTC, without a zone."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class Server:
    """`backout serve --no-watch` on a free loopback port, its log in the workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.port = free_port()
        self.log = workspace.config.parent / "serve.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self, timeout_s: float = 60.0) -> None:
        command = [BACKOUT, "serve", "--no-watch", "--port", str(self.port)]
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(
                [*command, "--config", str(self.workspace.config)],
                cwd=self.workspace.config.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        headers = {"Authorization": self.workspace.token}
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline and self._process.poll() is None:
                try:
                    if http.get(f"{self.api}/client/features", headers=headers).is_success:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise SystemExit(f"backout serve did not answer:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """SIGTERM (the server ends its streams and stops), SIGKILL after 15 s."""
        process, self._process = self._process, None
        if process is not None:
            stop_gracefully(process)


# -- clients that note when they first see the flag in the expected state


class Sightings:
    """When each of `count` clients first saw the flag as expected since the last `arm`."""

    def __init__(self, count: int) -> None:
        self._lock = threading.Lock()
        self._expected: bool | None = None
        self._at: list[float | None] = [None] * count
        self._left = count
        self._all_seen = threading.Event()

    def arm(self, enabled: bool) -> None:
        with self._lock:
            self._expected, self._at = enabled, [None] * len(self._at)
            self._left = len(self._at)
            self._all_seen.clear()

    def saw(self, client: int, enabled: bool, at: float) -> None:
        with self._lock:
            if enabled != self._expected or self._at[client] is not None:
                return
            self._at[client] = at
            self._left -= 1
            if not self._left:
                self._all_seen.set()

    def wait(self, timeout_s: float) -> list[float | None]:
        """Each client's time (None: not within `timeout_s`); then stop noting."""
        self._all_seen.wait(timeout_s)
        with self._lock:
            self._expected = None
            return list(self._at)


class Fleet(Protocol):
    def arm(self, enabled: bool) -> None: ...

    def wait(self, timeout_s: float) -> list[float | None]: ...

    def __enter__(self) -> Fleet: ...

    def __exit__(self, *_: object) -> None: ...


class ClientFleet:
    """`count` FlagClients, one thread each; polling ones started at even steps over their
    1 s interval, so that their polls spread over it."""

    def __init__(self, api: str, token: str, count: int, *, push: bool) -> None:
        self.sightings = Sightings(count)
        self.push = push
        self.clients = [
            FlagClient(
                api,
                token,
                app_name=f"bench-{n}",
                push=push,
                poll_interval=1.0,
                on_change=functools.partial(self._changed, n),
            )
            for n in range(count)
        ]

    def arm(self, enabled: bool) -> None:
        self.sightings.arm(enabled)

    def wait(self, timeout_s: float) -> list[float | None]:
        return self.sightings.wait(timeout_s)

    def _changed(self, client: int) -> None:
        at = time.time()
        self.sightings.saw(client, self.clients[client].is_enabled(KILL_SWITCH_FLAG), at)

    def __enter__(self) -> ClientFleet:
        try:
            self._start_all()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start_all(self) -> None:
        started = time.monotonic()
        for n, client in enumerate(self.clients):
            if not self.push:  # spread the polls over the interval, as apps start at any time
                time.sleep(max(0.0, started + n / len(self.clients) - time.monotonic()))
            client.start()
        deadline = time.monotonic() + 60
        while not all(c.etag and (c.streaming or not self.push) for c in self.clients):
            if time.monotonic() > deadline:
                raise SystemExit("the flag clients did not all connect within 60 s")
            time.sleep(0.05)

    def __exit__(self, *_: object) -> None:
        for client in self.clients:
            client.stop()


class SseFleet:
    """`count` event streams read by one asyncio loop, in a thread of its own."""

    def __init__(self, api: str, token: str, count: int) -> None:
        self.sightings = Sightings(count)
        self.url = f"{api}/client/features/stream"
        self.headers = {"Authorization": token, "Accept": "text/event-stream"}
        self.count = count
        self.errors: list[str] = []
        self._opened: set[int] = set()
        self._all_open = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._read_all(),))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def arm(self, enabled: bool) -> None:
        self.sightings.arm(enabled)

    def wait(self, timeout_s: float) -> list[float | None]:
        return self.sightings.wait(timeout_s)

    def __enter__(self) -> SseFleet:
        self._thread.start()
        try:
            deadline = time.monotonic() + 60
            while not self._all_open.wait(0.1):
                if self.errors or time.monotonic() > deadline:
                    raise SystemExit(f"the event streams did not all open: {self.errors[:3]}")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        """Cancel the readers in their loop, let it close its connections, and end."""
        while self._thread.is_alive() and self._stop is None:
            time.sleep(0.01)
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)

    async def _read_all(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        limits = httpx.Limits(max_connections=self.count + 10)
        timeout = httpx.Timeout(10.0, read=60.0)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as http:
            readers = [asyncio.create_task(self._read(http, n)) for n in range(self.count)]
            await self._stop.wait()
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    async def _read(self, http: httpx.AsyncClient, client: int) -> None:
        try:
            async with http.stream("GET", self.url, headers=self.headers) as response:
                response.raise_for_status()
                await self._read_events(response, client)
        except httpx.HTTPError as error:
            self.errors.append(f"{type(error).__name__}: {error}")

    async def _read_events(self, response: httpx.Response, client: int) -> None:
        event, data = "", []
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").removeprefix(" "))
            elif not line and data:
                if event == "features":
                    self._features(client, "\n".join(data))
                event, data = "", []

    def _features(self, client: int, text: str) -> None:
        """Note the flag's state in the event (decoded, not compiled: the channel alone)."""
        features = json.loads(text)["features"]
        enabled = any(f["name"] == KILL_SWITCH_FLAG and f["enabled"] for f in features)
        self.sightings.saw(client, enabled, time.time())
        self._opened.add(client)
        if len(self._opened) == self.count:
            self._all_open.set()


# -- the kill switch


def nearest_rank(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def one_change(fleet: Fleet, workspace: Workspace, enabled: bool) -> dict[str, Any]:
    """Flip the flag with the CLI; each client's latency from the commit and from the launch."""
    time.sleep(random.uniform(0.1, 0.5))  # a random phase against the server's 100 ms look
    fleet.arm(enabled)
    verb = "enable" if enabled else "disable"
    launched = time.time()
    cli(workspace.config, "flags", verb, KILL_SWITCH_FLAG, "--reason", "bench")
    exited = time.time()
    seen = fleet.wait(timeout_s=15.0)
    change = last_change(workspace.database, KILL_SWITCH_FLAG)
    arrived = [at for at in seen if at is not None]
    if not arrived:
        return {"missed": len(seen)}
    latency = [(at - change.recorded_at) * 1000 for at in arrived]
    return {
        "first_ms": min(latency),
        "p50_ms": nearest_rank(latency, 50),
        "p99_ms": nearest_rank(latency, 99),
        "max_ms": max(latency),
        "missed": len(seen) - len(arrived),
        "from_cli_launch_p99_ms": nearest_rank([(at - launched) * 1000 for at in arrived], 99),
        "cli_launch_to_commit_ms": (change.recorded_at - launched) * 1000,
        "cli_run_s": exited - launched,
        "seen_before_cli_exit": sum(at < exited for at in arrived) / len(seen),
        "commit_gap_ms": (change.recorded_at - change.updated_at) * 1000,
    }


def measure_fleet(fleet: Fleet, workspace: Workspace, rounds: int) -> dict[str, Any]:
    """ROUNDS disables, each followed by an enable; medians over the disables."""
    disables, enables = [], []
    for _ in range(rounds):
        disables.append(one_change(fleet, workspace, enabled=False))
        enables.append(one_change(fleet, workspace, enabled=True))
    kept = [change for change in disables if "p99_ms" in change]

    def median(key: str, changes: list[dict[str, Any]] = kept) -> float | None:
        values = [change[key] for change in changes if key in change]
        return round(statistics.median(values), 3) if values else None

    return {
        "first_ms": median("first_ms"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "max_ms": round(max(change["max_ms"] for change in kept), 3) if kept else None,
        "missed": sum(change["missed"] for change in disables),
        "from_cli_launch_p99_ms": median("from_cli_launch_p99_ms"),
        "cli_launch_to_commit_ms": median("cli_launch_to_commit_ms"),
        "cli_run_s": median("cli_run_s"),
        "seen_before_cli_exit": median("seen_before_cli_exit"),
        "commit_gap_ms": median("commit_gap_ms"),
        "enable_p99_ms": median("p99_ms", enables),
        "p99_ms_per_round": [
            round(change["p99_ms"], 1) if "p99_ms" in change else None for change in disables
        ],
    }


def compile_ms(server: Server) -> float:
    """What one FlagClient spends on a pushed payload: decode and compile it (median of 50)."""
    headers = {"Authorization": server.workspace.token}
    text = httpx.get(f"{server.api}/client/features", headers=headers).text
    spent = []
    for _ in range(50):
        started = time.perf_counter()
        Evaluator.from_client_features(json.loads(text))
        spent.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(spent), 3)


def measure_kill_switch(
    folder: Path, definitions: dict[str, Any], clients: int, rounds: int
) -> dict[str, Any]:
    """Every fleet's figures (see benchmarks/flags.py), one after the other on one server."""
    workspace = make_workspace(folder, definitions)
    server = Server(workspace)
    fleets: dict[str, Callable[[], Fleet]] = {
        "push": lambda: ClientFleet(server.api, workspace.token, clients, push=True),
        "raw_sse": lambda: SseFleet(server.api, workspace.token, clients),
        "poll": lambda: ClientFleet(server.api, workspace.token, clients, push=False),
    }
    channels: dict[str, Any] = {}
    try:
        server.start()
        compiling = compile_ms(server)
        for name, make in fleets.items():
            with make() as fleet:
                channels[name] = measure_fleet(fleet, workspace, rounds)
    finally:
        server.stop()
    return {"client_compile_ms": compiling, "channels": channels}
