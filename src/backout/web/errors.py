"""Every error the API answers, in one JSON shape: `{"error", "hint", "exit_code"}`.

The status of a BackoutError follows its class; the exit code is the one the CLI returns for
the same error, so a script can treat both alike.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

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
from backout.operations.webhook_signatures import BadSignatureError
from backout.web.auth import NotAuthenticatedError
from backout.web.dashboard.forms import FormError

# Looked up along the error's class hierarchy, so the most specific class wins.
_HTTP_STATUS: dict[type[BackoutError], int] = {
    NotAuthenticatedError: 401,
    BadSignatureError: 401,
    NotFoundError: 404,
    LockedError: 409,
    RefusedError: 409,
    PermissionDeniedError: 403,
    ConfigError: 422,
    FormError: 422,  # a dashboard form's field missing or too long
    AwaitingApprovalError: 202,
    UnavailableError: 503,
}


def http_status(error: BackoutError) -> int:
    for cls in type(error).__mro__:
        if cls in _HTTP_STATUS:
            return _HTTP_STATUS[cls]
    return 500


def error_response(
    status: int,
    message: str,
    hint: str | None,
    code: ExitCode = ExitCode.USAGE,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = {"error": message, "hint": hint, "exit_code": int(code)}
    return JSONResponse(body, status_code=status, headers=headers or None)


async def backout_error(request: Request, error: BackoutError) -> JSONResponse:
    return error_response(http_status(error), error.message, error.hint, error.exit_code)


async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
    )
    return error_response(422, f"invalid request: {problems}", None)


async def http_exception(request: Request, error: HTTPException) -> JSONResponse:
    if error.status_code == 400:  # FastAPI's "error parsing the body": not UTF-8, not JSON
        return error_response(422, f"invalid request: body: {error.detail}", None)
    # Starlette's own headers (a 405's Allow) go on; the body takes the one shape.
    return error_response(error.status_code, str(error.detail), None, headers=error.headers)


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """A bug: the traceback goes to the server log (Starlette re-raises it), never the client."""
    return error_response(
        500, "internal error; the server log has the details", None, ExitCode.FAILED
    )
