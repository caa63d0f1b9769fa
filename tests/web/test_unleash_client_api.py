"""The Unleash client API under /api/client: the flags with an ETag and 304s, registration and
metrics, the server-sent-event streams, and who may read them — over a real uvicorn server,
with flag changes made by the real `backout` CLI in another process."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backout.flags import Evaluator
from backout.operations.tokens import Role, revoke_token
from backout.runtime import Runtime
from backout.web.flag_feed import FlagFeed
from tests.web.unleash_support import (
    USERS,
    EventReader,
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


def features(server: FlagServer, authorization: str | None, **headers: str) -> httpx.Response:
    if authorization is not None:
        headers["Authorization"] = authorization
    return httpx.get(f"{server.api}/client/features", headers=headers)


def enabled_users(payload: dict[str, object], flag: str) -> set[str]:
    evaluator = Evaluator.from_client_features(payload)
    return {user for user in USERS if evaluator.is_enabled(flag, {"userId": user})}


def test_features_are_the_environments_client_payload_with_an_etag(
    server: FlagServer, runtime: Runtime, client_token: str
) -> None:
    answer = features(server, client_token)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == runtime.flags().client_features()
    assert answer.json()["version"] == 2
    assert [f["name"] for f in answer.json()["features"]] == ["banner", "checkout", "dark-mode"]
    assert answer.headers["etag"][0] == answer.headers["etag"][-1] == '"', "a quoted ETag"
    assert 60 < len(enabled_users(answer.json(), "checkout")) < 120, "a 30 % rollout"


def test_the_same_etag_in_if_none_match_answers_304_without_a_body(
    server: FlagServer, client_token: str
) -> None:
    etag = features(server, client_token).headers["etag"]

    same = features(server, client_token, **{"If-None-Match": etag})
    weak = features(server, client_token, **{"If-None-Match": f'"other", W/{etag}'})
    other = features(server, client_token, **{"If-None-Match": '"something-else"'})

    assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", etag)
    assert weak.status_code == 304
    assert other.status_code == 200
    assert other.headers["etag"] == etag


def test_a_change_by_the_cli_in_another_process_is_served_within_a_second(
    server: FlagServer, runtime: Runtime, client_token: str
) -> None:
    before = features(server, client_token)
    etag = {"If-None-Match": before.headers["etag"]}
    seen: list[tuple[float, httpx.Response]] = []

    def poll() -> None:
        deadline = time.monotonic() + 20
        while not seen and time.monotonic() < deadline:
            answer = features(server, client_token, **etag)
            if answer.status_code == 200:
                seen.append((time.time(), answer))
            time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    backout_cli(runtime.config.source, "flags", "disable", "checkout", "--reason", "errors")
    poller.join()
    [(seen_at, after)] = seen
    seen_s = seen_at - last_change_at(runtime, "checkout")

    assert seen_s < 1.0, f"{seen_s:.3f}s after the CLI recorded the change"
    assert after.headers["etag"] != before.headers["etag"]
    assert enabled_users(after.json(), "checkout") == set()
    again = features(server, client_token, **{"If-None-Match": after.headers["etag"]})
    assert again.status_code == 304


def test_sdks_send_the_bare_token_and_bearer_works_too(
    server: FlagServer, client_token: str
) -> None:
    assert features(server, client_token).status_code == 200
    assert features(server, f"Bearer {client_token}").status_code == 200
    assert features(server, f"bearer  {client_token}").status_code == 200


def test_no_token_or_an_unknown_or_revoked_one_is_401_with_a_json_error(
    server: FlagServer, runtime: Runtime, client_token: str
) -> None:
    missing = features(server, None)
    unknown = features(server, "bk_not-a-token")
    revoke_token(runtime, "client-app", actor="test")
    revoked = features(server, client_token)

    assert missing.status_code == 401
    assert missing.json()["error"] == "the client API needs a token"
    assert "--role client" in missing.json()["hint"]
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "invalid or revoked API token"
    assert revoked.status_code == 401
    for path in ("/client/register", "/client/metrics"):
        assert httpx.post(f"{server.api}{path}", json={"appName": "x"}).status_code == 401


def test_a_client_token_reads_the_client_api_only(server: FlagServer, client_token: str) -> None:
    bare = httpx.get(f"{server.url}/api/v1/runs", headers={"Authorization": client_token})
    bearer = httpx.get(
        f"{server.url}/api/v1/runs", headers={"Authorization": f"Bearer {client_token}"}
    )

    assert bare.status_code == 401, "the v1 API takes bearer tokens only"
    assert bearer.status_code == 403
    assert bearer.json()["error"] == "reading needs role viewer; this token has client"


def test_the_cli_makes_a_client_token_that_reads_the_flags_and_nothing_else(
    server: FlagServer, runtime: Runtime
) -> None:
    made = backout_cli(runtime.config.source, "token", "create", "shop", "--role", "client")
    client_token = made.stdout.strip()

    assert "token 'shop' (client)" in made.stderr
    assert features(server, client_token).status_code == 200
    v1 = httpx.get(
        f"{server.url}/api/v1/services", headers={"Authorization": f"Bearer {client_token}"}
    )
    assert v1.status_code == 403


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ADMIN])
def test_the_other_roles_may_read_the_client_api(
    server: FlagServer, runtime: Runtime, role: Role
) -> None:
    assert features(server, token(runtime, role)).status_code == 200


def test_registrations_and_metrics_are_accepted_and_the_last_registration_kept(
    server: FlagServer, client_token: str
) -> None:
    headers = {"Authorization": client_token}
    first = {"appName": "checkout", "instanceId": "pod-1", "sdkVersion": "x:1", "interval": 1}
    again = {**first, "sdkVersion": "x:2"}

    answers = [
        httpx.post(f"{server.api}/client/register", json=first, headers=headers),
        httpx.post(f"{server.api}/client/register", json=again, headers=headers),
        httpx.post(f"{server.api}/client/metrics", json={**first, "bucket": {}}, headers=headers),
    ]

    assert [a.status_code for a in answers] == [202, 202, 202]
    instances = server.app.state.flag_clients.instances
    assert list(instances) == [("checkout", "pod-1")]
    assert instances["checkout", "pod-1"].registration["sdkVersion"] == "x:2"
    assert instances["checkout", "pod-1"].token_name == "client-app"
    assert instances["checkout", "pod-1"].metrics_reports == 1


def test_a_registration_that_is_not_a_json_object_is_422(
    server: FlagServer, client_token: str
) -> None:
    answer = httpx.post(
        f"{server.api}/client/register",
        content=b"[1, 2]",
        headers={"Authorization": client_token, "Content-Type": "application/json"},
    )

    assert answer.status_code == 422
    assert answer.json()["error"].startswith("invalid request: body")


def test_features_can_be_narrowed_by_name_prefix_and_project(
    server: FlagServer, client_token: str
) -> None:
    headers = {"Authorization": client_token}
    prefixed = httpx.get(f"{server.api}/client/features?namePrefix=ch", headers=headers)
    default = httpx.get(f"{server.api}/client/features?project=default", headers=headers)
    other = httpx.get(f"{server.api}/client/features?project=other", headers=headers)

    assert [f["name"] for f in prefixed.json()["features"]] == ["checkout"]
    assert len(default.json()["features"]) == 3
    assert other.json()["features"] == []
    assert prefixed.headers["etag"] != other.headers["etag"]
    again = httpx.get(
        f"{server.api}/client/features?namePrefix=ch",
        headers={**headers, "If-None-Match": prefixed.headers["etag"]},
    )
    assert again.status_code == 304


def stream(server: FlagServer, path: str, authorization: str) -> EventReader:
    return EventReader(f"{server.api}{path}", {"Authorization": authorization}).start()


def test_the_stream_sends_the_flags_at_once_then_each_change_within_a_second(
    server: FlagServer, runtime: Runtime, client_token: str
) -> None:
    before = features(server, client_token)
    reader = stream(server, "/client/features/stream", client_token)
    try:
        first = reader.next()
        backout_cli(runtime.config.source, "flags", "rollout", "checkout", "100")
        second = reader.next()
    finally:
        reader.close()

    assert reader.status == 200
    assert (first.name, second.name) == ("features", "features")
    assert (json.loads(first.data), first.id) == (before.json(), before.headers["etag"])
    assert enabled_users(json.loads(second.data), "checkout") == set(USERS)
    assert second.id == features(server, client_token).headers["etag"]
    delay_s = second.at - last_change_at(runtime, "checkout")
    assert delay_s < 1.0, f"{delay_s:.3f}s after the CLI recorded the change"


def test_an_idle_stream_sends_heartbeats_and_ends_when_its_token_is_revoked(
    runtime: Runtime, client_token: str
) -> None:
    with serving(runtime, flags_heartbeat_s=0.2) as server:
        reader = stream(server, "/client/features/stream", client_token)
        try:
            reader.next()
            assert reader.comments.get(timeout=5) == ": heartbeat"
            revoke_token(runtime, "client-app", actor="test")
            assert reader.ended.wait(5), "the stream of a revoked token ended"
        finally:
            reader.close()


def test_a_stream_without_a_valid_token_is_401(server: FlagServer) -> None:
    reader = stream(server, "/client/features/stream", "bk_wrong")

    assert reader.ended.wait(5)
    assert reader.status == 401
    assert reader.events.empty()


def test_the_unleash_streaming_api_hydrates_on_connect_and_at_each_change(
    server: FlagServer, runtime: Runtime, client_token: str
) -> None:
    reader = stream(server, "/client/streaming", client_token)
    try:
        connected = reader.next()
        backout_cli(runtime.config.source, "flags", "enable", "dark-mode", "--reason", "go")
        updated = reader.next()
    finally:
        reader.close()

    assert (connected.name, updated.name) == ("unleash-connected", "unleash-updated")
    [hydration] = json.loads(connected.data)["events"]
    [rehydration] = json.loads(updated.data)["events"]
    assert hydration["type"] == rehydration["type"] == "hydration"
    assert rehydration["eventId"] > hydration["eventId"]
    dark = {f["name"]: f["enabled"] for f in rehydration["features"]}["dark-mode"]
    assert dark is True


def test_a_server_stopping_ends_its_open_streams_at_once(
    runtime: Runtime, client_token: str
) -> None:
    server = start_server(runtime)
    readers = [stream(server, "/client/features/stream", client_token) for _ in range(3)]
    for reader in readers:
        reader.next()

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 2.0
    for reader in readers:
        assert reader.ended.wait(1), "a stream went on after the server stopped"
        reader.close()


async def read_streams(url: str, token_value: str, count: int, runtime: Runtime) -> list[float]:
    """Open `count` streams, change a flag with the CLI, and return how long after the CLI
    recorded the change each stream had it."""
    limits = httpx.Limits(max_connections=count + 10)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        connected = asyncio.Event()
        opened = 0

        async def one() -> float:
            nonlocal opened
            async with client.stream("GET", url, headers={"Authorization": token_value}) as r:
                async for line in r.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    if opened < count:
                        opened += 1
                        if opened == count:
                            connected.set()
                        continue
                    return time.time()
            raise AssertionError("the stream ended")

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        await asyncio.wait_for(connected.wait(), 20)
        config = runtime.config.source
        await asyncio.to_thread(backout_cli, config, "flags", "disable", "banner", "--reason", "x")
        arrivals = await asyncio.wait_for(asyncio.gather(*tasks), 20)
        changed_at = last_change_at(runtime, "banner")
        return [arrival - changed_at for arrival in arrivals]


def test_a_change_reaches_120_open_streams_within_a_second(
    server: FlagServer, runtime: Runtime, client_token: str
) -> None:
    url = f"{server.api}/client/features/stream"

    delays = asyncio.run(read_streams(url, client_token, 120, runtime))

    assert len(delays) == 120
    assert max(delays) < 1.0, f"slowest {max(delays):.3f}s after the CLI recorded the change"


def test_flags_that_cannot_be_read_are_503_until_they_can(tmp_path: Path) -> None:
    runtime = Runtime.open(write_flag_config(tmp_path, provider="fake"))
    state = tmp_path / ".backout" / "flags-fake-production.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text("{not json", encoding="utf-8")
    try:
        with serving(runtime) as server:
            client_token = token(runtime)
            broken = features(server, client_token)
            state.unlink()
            wait_until(lambda: features(server, client_token).status_code == 200, "flags served")
    finally:
        runtime.close()

    assert broken.status_code == 503
    assert broken.json()["error"] == "the flags could not be read yet"
    # A client token is handed to apps, even to browsers: the reason stays in the server's log.
    assert broken.json()["hint"] == (
        "backout cannot read its flag provider; the server log says why"
    )
    assert "Expecting property name" not in broken.text
    assert "Traceback" not in broken.text


def test_a_feed_that_cannot_read_the_flags_keeps_serving_the_last_ones() -> None:
    reads: list[dict[str, object] | Exception] = [
        {"version": 2, "features": []},
        RuntimeError("database is locked"),
        {"version": 2, "features": [{"name": "a", "enabled": True, "strategies": []}]},
    ]

    def read() -> dict[str, object]:
        value = reads.pop(0)
        if isinstance(value, Exception):
            raise value
        return value

    async def scenario() -> list[object]:
        feed = FlagFeed(read, interval_s=3600)  # refreshed by hand below
        await feed.start()
        seen: list[object] = [feed.current.etag]
        seen += [await feed.refresh(), feed.current.etag]
        seen += [await feed.refresh(), feed.current.etag]
        await feed.stop()
        return seen

    first, failed, kept, changed, last = asyncio.run(scenario())

    assert (failed, kept) == (False, first)
    assert changed is True
    assert last != first
