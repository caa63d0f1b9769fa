"""backout's FlagClient against a real `backout` API server: pushed changes well under a second,
conditional polling without the stream, the last flags kept while the server is down, and the
backup file read at start — with flag changes made by the real CLI in another process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backout.flags import Evaluator
from backout.flags.client import FlagClient
from backout.runtime import Runtime
from tests.web.unleash_support import (
    USERS,
    FlagServer,
    backout_cli,
    last_change_at,
    serving,
    start_server,
    token,
    wait_until,
    write_flag_config,
)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(write_flag_config(tmp_path))
    yield runtime
    runtime.close()


@pytest.fixture
def server(runtime: Runtime) -> Iterator[FlagServer]:
    with serving(runtime) as server:
        yield server


@pytest.fixture
def client_token(runtime: Runtime) -> str:
    return token(runtime)


@pytest.fixture
def flag_client(client_token: str) -> Iterator[Callable[..., FlagClient]]:
    """Factory: a started FlagClient of `server`; stopped at the end."""
    made: list[FlagClient] = []

    def make(server: FlagServer, **options: Any) -> FlagClient:
        client = FlagClient(
            server.api, options.pop("token", client_token), app_name="shop", **options
        )
        made.append(client)
        client.start()
        return client

    yield make
    for client in made:
        client.stop()


def exposed(client: FlagClient | Evaluator, flag: str = "checkout") -> set[str]:
    return {u for u in USERS if client.is_enabled(flag, {"userId": u})}


def served(runtime: Runtime) -> Evaluator:
    return Evaluator.from_client_features(runtime.flags().client_features())


def refuse_streams(app: Any) -> Any:
    """The app, but with the event stream answering 503 (a proxy that buffers, say)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/features/stream"):
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"no streams here"})
            return
        await app(scope, receive, send)

    return wrapped


def test_the_client_answers_as_backout_evaluates_from_its_first_start(
    server: FlagServer, runtime: Runtime, flag_client: Callable[..., FlagClient]
) -> None:
    client = flag_client(server)
    evaluator = served(runtime)

    assert exposed(client) == exposed(evaluator)
    assert 60 < len(exposed(client)) < 120
    for user in USERS:
        assert client.get_variant("banner", {"userId": user}) == evaluator.get_variant(
            "banner", {"appName": "shop", "environment": "default", "userId": user}
        )
    assert not client.is_enabled("dark-mode")
    assert not client.is_enabled("no-such-flag")
    assert client.get_variant("no-such-flag")["name"] == "disabled"


def test_a_pushed_change_arrives_within_a_second(
    server: FlagServer, runtime: Runtime, flag_client: Callable[..., FlagClient]
) -> None:
    changes: list[float] = []
    client = flag_client(server, on_change=lambda: changes.append(time.time()), poll_interval=60)
    wait_until(lambda: client.streaming, "the stream is open")
    changes.clear()

    backout_cli(runtime.config.source, "flags", "disable", "checkout", "--reason", "errors")
    wait_until(lambda: changes, "the change pushed")
    seen_s = changes[0] - last_change_at(runtime, "checkout")

    assert seen_s < 1.0, f"{seen_s:.3f}s after the CLI recorded the change"
    assert exposed(client) == set()
    assert client.etag == server.app.state.flag_feed.current.etag


def test_without_push_the_client_polls_with_if_none_match(
    server: FlagServer, runtime: Runtime, flag_client: Callable[..., FlagClient]
) -> None:
    client = flag_client(server, push=False, poll_interval=0.2)
    first_etag = client.etag
    assert first_etag == server.app.state.flag_feed.current.etag
    assert not client.streaming

    backout_cli(runtime.config.source, "flags", "rollout", "checkout", "100")
    returned_at = time.monotonic()
    wait_until(lambda: exposed(client) == set(USERS), "the polled change")

    assert time.monotonic() - returned_at < 0.2 + 1.0  # a poll interval, and then some
    assert client.etag not in (None, first_etag)
    assert not client.streaming


def test_when_the_stream_is_refused_the_client_falls_back_to_polling(
    runtime: Runtime, flag_client: Callable[..., FlagClient]
) -> None:
    server = start_server(runtime, wrap=refuse_streams)
    try:
        client = flag_client(server, poll_interval=0.2)
        assert 60 < len(exposed(client)) < 120

        backout_cli(runtime.config.source, "flags", "disable", "checkout", "--reason", "errors")
        wait_until(lambda: exposed(client) == set(), "the polled change", timeout_s=3)

        assert not client.streaming
    finally:
        server.stop()


def test_the_client_keeps_its_last_flags_when_the_server_stops(
    runtime: Runtime, flag_client: Callable[..., FlagClient]
) -> None:
    server = start_server(runtime)
    client = flag_client(server, poll_interval=0.1)
    wait_until(lambda: client.streaming, "the stream is open")
    before = exposed(client)

    server.stop()
    wait_until(lambda: not client.server_reachable, "the client noticed")

    assert not client.streaming
    assert exposed(client) == before
    assert 60 < len(before) < 120


def test_the_backup_file_gives_the_flags_at_start_while_the_server_is_down(
    runtime: Runtime, client_token: str, tmp_path: Path
) -> None:
    backup = tmp_path / "flags-backup.json"
    with serving(runtime) as server:
        with FlagClient(server.api, client_token, app_name="shop", backup_path=backup):
            pass
        url = server.api
        backout_cli(runtime.config.source, "flags", "enable", "dark-mode", "--reason", "x")
        expected = served(runtime)
        with FlagClient(url, client_token, app_name="shop", backup_path=backup) as client:
            wait_until(lambda: client.is_enabled("dark-mode"), "the change reached the client")
    assert json.loads(backup.read_text(encoding="utf-8")) == runtime.flags().client_features()

    offline = FlagClient(url, client_token, app_name="shop", backup_path=backup, timeout_s=1)
    offline.start()
    try:
        assert offline.etag is None, "nothing came from the server"
        assert exposed(offline) == exposed(expected)
        assert offline.is_enabled("dark-mode")
    finally:
        offline.stop()


def test_a_client_without_a_server_or_backup_answers_off(
    runtime: Runtime, client_token: str, tmp_path: Path
) -> None:
    with serving(runtime) as server:
        url = server.api
    client = FlagClient(url, client_token, app_name="shop", backup_path=tmp_path / "none.json")
    client.start()
    try:
        assert not client.is_enabled("checkout", {"userId": "1"})
        assert client.get_variant("banner")["name"] == "disabled"
    finally:
        client.stop()


def test_a_wrong_token_gets_no_flags(
    server: FlagServer, flag_client: Callable[..., FlagClient]
) -> None:
    client = flag_client(server, token="bk_wrong")

    assert exposed(client) == set()
    assert client.etag is None
    assert not client.streaming
    assert not client.server_reachable


def test_a_failing_on_change_does_not_stop_the_updates(
    server: FlagServer, runtime: Runtime, flag_client: Callable[..., FlagClient]
) -> None:
    calls: list[str] = []

    def broken() -> None:
        calls.append("called")
        raise RuntimeError("a bug in the app's callback")

    client = flag_client(server, on_change=broken)
    backout_cli(runtime.config.source, "flags", "disable", "checkout", "--reason", "errors")
    wait_until(lambda: not exposed(client), "the first change")
    backout_cli(runtime.config.source, "flags", "enable", "dark-mode", "--reason", "go")
    wait_until(lambda: client.is_enabled("dark-mode"), "the next change")

    assert len(calls) >= 3, "the first payload, then each change"


def test_stop_returns_at_once_while_the_stream_is_open(
    server: FlagServer, flag_client: Callable[..., FlagClient]
) -> None:
    client = flag_client(server)
    wait_until(lambda: client.streaming, "the stream is open")
    threads_before = {t.name for t in threading.enumerate()}
    assert "backout-flags" in threads_before

    started = time.monotonic()
    client.stop()

    assert time.monotonic() - started < 1.0
    assert "backout-flags" not in {t.name for t in threading.enumerate()}
    assert client.is_enabled("checkout", {"userId": next(iter(exposed(client)))})
