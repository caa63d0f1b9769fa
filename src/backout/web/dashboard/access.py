"""Who is signed in to the dashboard, and whether they may do what they ask.

Pages need a session (else the browser is sent to the sign-in form); every request that
changes something needs the session, its CSRF token (form field `csrf` or header
`X-CSRF-Token`) and a role high enough — each checked here, on the server, so a viewer that
replays an operator's request gets 403 whatever the page showed it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, cast

from fastapi import Depends, Request

from backout.errors import BackoutError, PermissionDeniedError
from backout.operations.tokens import Role, require
from backout.web.dashboard.forms import read_form
from backout.web.dashboard.sessions import DashboardSession, SessionStore

SESSION_COOKIE = "backout_session"
SIGN_IN_COOKIE = "backout_sign_in"  # the sign-in form's CSRF token, before there is a session
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


class SignInNeededError(BackoutError):
    """A page asked for without a session: the dashboard answers with the sign-in form."""


class CsrfError(PermissionDeniedError):
    """A state-changing request without its session's CSRF token (HTTP 403)."""


def session_store(request: Request) -> SessionStore:
    return cast(SessionStore, request.app.state.dashboard_sessions)


async def session_of(request: Request) -> DashboardSession | None:
    """The request's live session, its token checked again when that is due."""
    return await live_session(request, request.cookies.get(SESSION_COOKIE, ""))


async def live_session(request: Request, session_id: str) -> DashboardSession | None:
    """The session `session_id` if it is still signed in (its token checked again when that
    is due: a revoked token ends it); None otherwise."""
    store = session_store(request)
    session = store.get(session_id)
    if session is not None and store.due_for_check(session):
        session = await asyncio.to_thread(store.recheck, session)
    return session


async def signed_in(request: Request) -> DashboardSession:
    session = await session_of(request)
    if session is None:
        raise SignInNeededError("sign in first")
    return session


SignedIn = Annotated[DashboardSession, Depends(signed_in)]
MaybeSignedIn = Annotated[DashboardSession | None, Depends(session_of)]


async def sent_csrf(request: Request) -> str:
    """The CSRF token the request sent: its header, else its form field ('' when neither)."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    return (await read_form(request)).first(CSRF_FIELD)


def same_secret(sent: str, expected: str) -> bool:
    return bool(sent) and secrets.compare_digest(sent.encode(), expected.encode())


def acting(needed: Role, action: str) -> Callable[..., Coroutine[Any, Any, DashboardSession]]:
    """A dependency for a state-changing request: a session, its CSRF token, role `needed`."""

    async def acting_session(request: Request) -> DashboardSession:
        session = await session_of(request)
        if session is None:
            raise PermissionDeniedError("sign in first", hint="open / and sign in with a token")
        if not same_secret(await sent_csrf(request), session.csrf):
            raise CsrfError(
                "missing or wrong CSRF token", hint="reload the page and send its form again"
            )
        require(session.role, needed, action)
        return session

    return acting_session


RollingBack = Annotated[DashboardSession, Depends(acting(Role.OPERATOR, "starting a rollback"))]
Aborting = Annotated[DashboardSession, Depends(acting(Role.OPERATOR, "aborting a run"))]
Approving = Annotated[DashboardSession, Depends(acting(Role.APPROVER, "approving a run"))]
EditingIncidents = Annotated[
    DashboardSession, Depends(acting(Role.OPERATOR, "changing an incident"))
]
Restoring = Annotated[DashboardSession, Depends(acting(Role.OPERATOR, "restoring a database"))]
ChangingFlags = Annotated[DashboardSession, Depends(acting(Role.OPERATOR, "changing a flag"))]
SigningOut = Annotated[DashboardSession, Depends(acting(Role.CLIENT, "signing out"))]
