"""Signing in and out: `/` shows the sign-in form to a browser without a session (and the
services to one with), `POST /login` trades an API token for a session cookie, `POST /logout`
ends the session."""

from __future__ import annotations

import asyncio
import secrets

from fastapi import APIRouter, Request, Response

from backout.errors import PermissionDeniedError
from backout.operations.tokens import authenticate_digest, token_digest
from backout.web.auth import RuntimeDep
from backout.web.dashboard.access import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    CsrfError,
    MaybeSignedIn,
    SigningOut,
    same_secret,
    session_store,
)
from backout.web.dashboard.forms import Form
from backout.web.dashboard.pages import PageRoute, page, see_other
from backout.web.dashboard.routes_services import services_page
from backout.web.dashboard.sessions import SESSION_MAX_AGE_S

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/")
def home(request: Request, session: MaybeSignedIn, runtime: RuntimeDep) -> Response:
    if session is None:
        return sign_in_form(request)
    return services_page(request, session, runtime)


def sign_in_form(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
    """The form, with a fresh CSRF token in it and in a cookie (no session exists yet to hold
    it: the two must match, which a page on another site cannot arrange)."""
    csrf = secrets.token_urlsafe(32)
    response = page(
        request, "dashboard/sign_in.html", None, csrf=csrf, error=error, status_code=status_code
    )
    _set_cookie(request, response, SIGN_IN_COOKIE, csrf, max_age=3600)
    return response


@router.post("/login")
async def login(
    request: Request,
    runtime: RuntimeDep,
    form: Form,
) -> Response:
    csrf = form.text(CSRF_FIELD, required=False, max_chars=200)
    if not same_secret(csrf, request.cookies.get(SIGN_IN_COOKIE, "")):
        raise CsrfError("missing or wrong CSRF token", hint="reload the sign-in page")
    digest = token_digest(form.text("token", required=False, max_chars=200))
    try:
        name, role = await asyncio.to_thread(authenticate_digest, runtime, digest)
    except PermissionDeniedError:
        return sign_in_form(request, error="That token is unknown or revoked.", status_code=401)
    session = session_store(request).open(digest, name, role)
    response = see_other("/")
    _set_cookie(request, response, SESSION_COOKIE, session.id, max_age=SESSION_MAX_AGE_S)
    response.delete_cookie(SIGN_IN_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, session: SigningOut) -> Response:
    session_store(request).close(session.id)
    response = see_other("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",  # behind a TLS proxy, set --proxy-headers
    )
