"""The FastAPI application: its factory, its lifespan (the controller beside it), its errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from backout import __version__
from backout.controller.controller import Controller
from backout.errors import BackoutError
from backout.limits import MAX_REQUEST_BODY_BYTES
from backout.operations.own_metrics import registry_for
from backout.operations.tokens import authenticate
from backout.runtime import Runtime
from backout.store.changes import StoreChanges
from backout.web import (
    dashboard,
    errors,
    routes_flags,
    routes_incidents,
    routes_metrics,
    routes_read,
    routes_report,
    routes_runs,
    routes_status,
    routes_triggers,
    routes_unleash,
)
from backout.web.body_limit import BodySizeLimit
from backout.web.flag_feed import DEFAULT_HEARTBEAT_S, FlagFeed, interval_for
from backout.web.read_cache import ReadCache
from backout.web.schemas import HealthOut
from backout.web.token_cache import TokenCache


def create_app(
    runtime: Runtime,
    *,
    watch: bool = True,
    flags_interval_s: float | None = None,
    flags_heartbeat_s: float = DEFAULT_HEARTBEAT_S,
) -> FastAPI:
    """The API over `runtime`, with the controller beside it (with `watch`, its watch loop
    too: `backout serve --no-watch` leaves watching to another process). The flags
    the client API serves are re-read every `flags_interval_s` (default: by provider, see
    web/flag_feed.py)."""
    controller = Controller(runtime, watch=watch)
    feed = FlagFeed(
        lambda: runtime.flags().client_features(),
        interval_s=flags_interval_s or interval_for(runtime.config.flags.provider.type),
        heartbeat_s=flags_heartbeat_s,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(controller.start)
        await feed.start()
        try:
            yield
        finally:
            await feed.stop()
            await asyncio.to_thread(controller.stop)
            app.state.read_cache.changes.close()

    app = FastAPI(
        title="backout",
        summary="From a rollback trigger to a verified recovery and a written report.",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.controller = controller
    app.state.flag_feed = feed
    app.state.flag_clients = routes_unleash.ClientRegistry()
    app.state.metrics_registry = registry_for(runtime)
    app.state.read_cache = ReadCache(StoreChanges(runtime.store.engine))
    app.state.token_cache = TokenCache(
        lambda token: authenticate(runtime, token), runtime.clock.monotonic
    )
    app.add_exception_handler(BackoutError, errors.backout_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, errors.invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, errors.http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, errors.unexpected_error)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_REQUEST_BODY_BYTES)
    app.add_api_route("/healthz", healthz, methods=["GET"], summary="Liveness (no token needed)")
    app.include_router(routes_read.router, prefix="/api/v1")
    app.include_router(routes_runs.router, prefix="/api/v1")
    app.include_router(routes_report.router, prefix="/api/v1")
    app.include_router(routes_incidents.router, prefix="/api/v1")
    app.include_router(routes_flags.router, prefix="/api/v1")
    app.include_router(routes_triggers.router, prefix="/api/v1")
    app.include_router(routes_metrics.router)
    app.include_router(routes_unleash.router, prefix="/api/client")
    app.include_router(routes_status.router)  # public: no token
    dashboard.install(app, runtime)  # `/`: pages for people, signed in with a token
    return app


def healthz() -> HealthOut:
    return HealthOut(status="ok")
