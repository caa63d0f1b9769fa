"""The Unleash client API, under /api/client: what the Unleash SDKs call, so that an app reads
its flags from backout without a change of code (its Unleash URL points at backout's /api).

- `GET /features`: the environment's client-features payload, from memory (the flag feed), with
  an ETag; `If-None-Match` with the current one answers 304 and no body.
- `POST /register`, `POST /metrics`: 202; the last registration of each app instance is kept in
  memory (nothing reads it over the API yet), metrics are counted and dropped.
- `GET /features/stream`: server-sent events for backout's FlagClient: the payload at once, then
  each new one, and a comment every heartbeat.
- `GET /streaming`: the same push in the Unleash streaming API's shape (`unleash-connected`,
  then `unleash-updated`, each a full hydration), for SDKs in their streaming mode.

A token of any role may call these: `client` tokens may call nothing else. Unleash SDKs send the
token as the bare `Authorization` value; `Bearer <token>` works too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import StreamingResponse

from backout.errors import PermissionDeniedError
from backout.limits import (
    MAX_CLIENT_APPS,
    MAX_REGISTRATION_STRATEGIES,
    MAX_REGISTRATION_TEXT_CHARS,
)
from backout.operations.tokens import authenticate
from backout.runtime import Runtime
from backout.web.auth import (
    Caller,
    NotAuthenticatedError,
    RuntimeDep,
    TokenCacheDep,
    check_token,
    get_token_cache,
)
from backout.web.flag_feed import FlagFeed, FlagSnapshot, encode, etag_of

router = APIRouter(tags=["unleash client API"], include_in_schema=False)

_HOW_TO_AUTHENTICATE = (
    "send 'Authorization: <token>' (as Unleash SDKs do) or 'Authorization: Bearer <token>'; "
    "make one with: backout token create NAME --role client"
)
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# What is kept of a registration: what an operator asks of it (which app, which SDK, since when).
_REGISTRATION_TEXTS = (
    "appName",
    "instanceId",
    "connectionId",
    "sdkVersion",
    "environment",
    "started",
    "platformName",
    "platformVersion",
    "yggdrasilVersion",
    "specVersion",
)


async def get_feed(request: Request) -> FlagFeed:
    return cast(FlagFeed, request.app.state.flag_feed)


def get_clients(request: Request) -> ClientRegistry:
    return cast(ClientRegistry, request.app.state.flag_clients)


FeedDep = Annotated[FlagFeed, Depends(get_feed)]


@dataclass(frozen=True)
class FlagReader:
    """A caller of the client API, with the token it showed (a stream checks it again)."""

    caller: Caller
    token: str

    def still_valid(self, runtime: Runtime) -> bool:
        try:
            authenticate(runtime, self.token)
        except PermissionDeniedError:
            return False
        return True


async def flag_reader(request: Request, cache: TokenCacheDep) -> FlagReader:
    """Authenticate a bare or bearer token of any role; 401 without a valid one."""
    header = request.headers.get("authorization", "").strip()
    scheme, _, rest = header.partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else header
    if not token:
        raise NotAuthenticatedError("the client API needs a token", hint=_HOW_TO_AUTHENTICATE)
    try:
        name, role = await check_token(cache, token)
    except NotAuthenticatedError as error:
        raise NotAuthenticatedError(error.message, hint=_HOW_TO_AUTHENTICATE) from None
    return FlagReader(Caller(name, role), token)


Reader = Annotated[FlagReader, Depends(flag_reader)]


async def features(request: Request) -> Response:
    """The environment's flags, as the Unleash client API serves them (`?project=` and
    `?namePrefix=` filter them), with an ETag; 304 when If-None-Match names it.

    A plain Starlette endpoint, not a FastAPI route: SDKs poll it more than anything else, and
    it needs no dependency injection or validation of its two optional filters."""
    await flag_reader(request, await get_token_cache(request))
    snapshot = (await get_feed(request)).current
    body, etag = snapshot.body, snapshot.etag
    projects = request.query_params.getlist("project")
    prefix = request.query_params.get("namePrefix", "")
    if projects or prefix:
        body = encode(_filtered(snapshot.payload, projects, prefix))
        etag = etag_of(body)
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


router.add_route("/features", features, methods=["GET"], include_in_schema=False)


@router.post("/register", status_code=202, summary="An SDK says it started")
async def register(
    request: Request, reader: Reader, body: Annotated[dict[str, Any], Body()]
) -> Response:
    get_clients(request).registered(body, reader.caller.name)
    return Response(status_code=202)


@router.post("/metrics", status_code=202, summary="An SDK reports how often it asked for flags")
async def metrics(
    request: Request, reader: Reader, body: Annotated[dict[str, Any], Body()]
) -> Response:
    get_clients(request).reported(body)
    return Response(status_code=202)


@router.get("/features/stream", summary="Server-sent events: the flags now, then at each change")
async def features_stream(runtime: RuntimeDep, feed: FeedDep, reader: Reader) -> Response:
    return _event_stream(feed, runtime, reader, _features_event)


@router.get("/streaming", summary="The Unleash streaming API: hydration events at each change")
async def unleash_streaming(runtime: RuntimeDep, feed: FeedDep, reader: Reader) -> Response:
    return _event_stream(feed, runtime, reader, _unleash_event)


EventFrame = Callable[[FlagSnapshot, bool], bytes]


def _event_stream(
    feed: FlagFeed, runtime: Runtime, reader: FlagReader, frame: EventFrame
) -> StreamingResponse:
    first = feed.current  # 503 now, rather than an empty stream, when there are no flags yet
    events = _events(feed, first, frame, lambda: reader.still_valid(runtime))
    return StreamingResponse(events, media_type="text/event-stream", headers=_SSE_HEADERS)


async def _events(
    feed: FlagFeed, first: FlagSnapshot, frame: EventFrame, still_valid: Callable[[], bool]
) -> AsyncIterator[bytes]:
    """The first snapshot, each next one, a heartbeat when nothing changed for a while; ends
    when the feed closes (the server stops) or, checked at heartbeats, the token is revoked."""
    yield b"retry: 1000\n\n"  # reconnect after 1 s, not the EventSource default of 3 s
    snapshot = first
    yield frame(snapshot, True)
    while not feed.closed:
        changed = await feed.next_after(snapshot.version, feed.heartbeat_s)
        if changed is not None:
            snapshot = changed
            yield frame(snapshot, False)
        elif not feed.closed:
            if not await asyncio.to_thread(still_valid):
                return
            yield b": heartbeat\n\n"


def _features_event(snapshot: FlagSnapshot, first: bool) -> bytes:
    return b"event: features\nid: " + snapshot.etag.encode() + b"\ndata: " + snapshot.body + b"\n\n"


def _unleash_event(snapshot: FlagSnapshot, first: bool) -> bytes:
    name = b"unleash-connected" if first else b"unleash-updated"
    event_id = str(snapshot.version).encode()
    return b"event: " + name + b"\nid: " + event_id + b"\ndata: " + snapshot.hydration + b"\n\n"


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (weak or strong, or `*`)."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _filtered(payload: dict[str, Any], projects: list[str], prefix: str) -> dict[str, Any]:
    """The payload with only the flags of `projects` (all when empty) whose names start so."""
    kept = [
        feature
        for feature in payload.get("features", [])
        if (not projects or feature.get("project") in projects)
        and str(feature.get("name", "")).startswith(prefix)
    ]
    return {**payload, "features": kept}


@dataclass
class AppInstance:
    """The last registration of one app instance, and what it reported since."""

    registration: dict[str, Any]
    token_name: str
    registered_at: float
    metrics_reports: int = 0


class ClientRegistry:
    """The SDKs that registered, by (appName, instanceId), in this server's memory only."""

    def __init__(self, max_apps: int = MAX_CLIENT_APPS) -> None:
        self.instances: dict[tuple[str, str], AppInstance] = {}
        self.unregistered_metrics_reports = 0
        self._max_apps = max_apps

    def registered(self, body: dict[str, Any], token_name: str) -> None:
        key = _instance_key(body)
        self.instances.pop(key, None)
        self.instances[key] = AppInstance(kept_registration(body), token_name, time.time())
        while len(self.instances) > self._max_apps:
            del self.instances[next(iter(self.instances))]

    def reported(self, body: dict[str, Any]) -> None:
        instance = self.instances.get(_instance_key(body))
        if instance is None:
            self.unregistered_metrics_reports += 1
        else:
            instance.metrics_reports += 1


def _instance_key(body: dict[str, Any]) -> tuple[str, str]:
    return _text(body.get("appName", "")), _text(body.get("instanceId", ""))


def kept_registration(body: dict[str, Any]) -> dict[str, Any]:
    """The parts of a registration the server keeps, each bounded: an SDK's own fields may be
    any size, and up to MAX_CLIENT_APPS registrations stay in memory."""
    kept: dict[str, Any] = {k: _text(body[k]) for k in _REGISTRATION_TEXTS if k in body}
    if isinstance(body.get("interval"), int | float):
        kept["interval"] = body["interval"]
    strategies = body.get("strategies")
    if isinstance(strategies, list):
        kept["strategies"] = [_text(s) for s in strategies[:MAX_REGISTRATION_STRATEGIES]]
    return kept


def _text(value: Any) -> str:
    return str(value)[:MAX_REGISTRATION_TEXT_CHARS]
