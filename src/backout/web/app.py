"""The FastAPI application: its factory, its lifespan (the background threads), its errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from backout import __version__
from backout.errors import (
    AwaitingApprovalError,
    BackoutError,
    ConfigError,
    ExitCode,
    LockedError,
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
    UnavailableError,
)
from backout.runtime import Runtime
from backout.web import routes_flags, routes_read, routes_runs, routes_unleash
from backout.web.auth import NotAuthenticatedError
from backout.web.background import BackgroundWork
from backout.web.flag_feed import DEFAULT_HEARTBEAT_S, FlagFeed, interval_for
from backout.web.schemas import HealthOut

# Looked up along the error's class hierarchy, so the most specific class wins.
_HTTP_STATUS: dict[type[BackoutError], int] = {
    NotAuthenticatedError: 401,
    NotFoundError: 404,
    LockedError: 409,
    RefusedError: 409,
    PermissionDeniedError: 403,
    ConfigError: 422,
    AwaitingApprovalError: 202,
    UnavailableError: 503,
}


def http_status(error: BackoutError) -> int:
    for cls in type(error).__mro__:
        if cls in _HTTP_STATUS:
            return _HTTP_STATUS[cls]
    return 500


def create_app(
    runtime: Runtime,
    *,
    watch: bool = True,
    flags_interval_s: float | None = None,
    flags_heartbeat_s: float = DEFAULT_HEARTBEAT_S,
) -> FastAPI:
    """The API over `runtime`; with `watch`, the watch loop runs inside the server. The flags
    the client API serves are re-read every `flags_interval_s` (default: by provider, see
    web/flag_feed.py)."""
    work = BackgroundWork(runtime, watch=watch)
    feed = FlagFeed(
        lambda: runtime.flags().client_features(),
        interval_s=flags_interval_s or interval_for(runtime.config.flags.provider.type),
        heartbeat_s=flags_heartbeat_s,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(work.start)
        await feed.start()
        try:
            yield
        finally:
            await feed.stop()
            await asyncio.to_thread(work.stop)

    app = FastAPI(
        title="backout",
        summary="From a rollback trigger to a verified recovery and a written report.",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.work = work
    app.state.flag_feed = feed
    app.state.flag_clients = routes_unleash.ClientRegistry()
    app.add_exception_handler(BackoutError, _backout_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_api_route("/healthz", healthz, methods=["GET"], summary="Liveness (no token needed)")
    app.include_router(routes_read.router, prefix="/api/v1")
    app.include_router(routes_runs.router, prefix="/api/v1")
    app.include_router(routes_flags.router, prefix="/api/v1")
    app.include_router(routes_unleash.router, prefix="/api/client")
    return app


def healthz() -> HealthOut:
    return HealthOut(status="ok")


def _error(status: int, message: str, hint: str | None, code: ExitCode) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"error": message, "hint": hint, "exit_code": int(code)}
    return JSONResponse(body, status_code=status, headers=headers)


async def _backout_error(request: Request, error: BackoutError) -> JSONResponse:
    return _error(http_status(error), error.message, error.hint, error.exit_code)


async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
    )
    return _error(422, f"invalid request: {problems}", None, ExitCode.USAGE)


async def _http_exception(request: Request, error: HTTPException) -> JSONResponse:
    return _error(error.status_code, str(error.detail), None, ExitCode.USAGE)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """A bug: the traceback goes to the server log (Starlette re-raises it), never the client."""
    return _error(500, "internal error; the server log has the details", None, ExitCode.FAILED)
