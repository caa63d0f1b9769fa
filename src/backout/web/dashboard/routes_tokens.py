"""Tokens, for an admin: the list, a new token (shown once, on the answer to its form), and
revoking one (its sessions end within TOKEN_RECHECK_S)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from backout.operations.tokens import Role, create_token, list_tokens, require, revoke_token
from backout.runtime import Runtime
from backout.web.auth import RuntimeDep
from backout.web.dashboard.access import SignedIn, acting
from backout.web.dashboard.forms import Form
from backout.web.dashboard.pages import PageRoute, page, see_other
from backout.web.dashboard.sessions import DashboardSession

router = APIRouter(route_class=PageRoute, include_in_schema=False)

ManagingTokens = Annotated[DashboardSession, Depends(acting(Role.ADMIN, "managing tokens"))]
NAME_MAX_CHARS = 100
CHOOSABLE_ROLES = [r.name.lower() for r in Role if r is not Role.CLIENT] + ["client"]


@router.get("/tokens")
def tokens(request: Request, session: SignedIn, runtime: RuntimeDep) -> Response:
    require(session.role, Role.ADMIN, "managing tokens")
    return tokens_page(request, session, runtime, made=None)


def tokens_page(
    request: Request, session: DashboardSession, runtime: Runtime, made: dict[str, str] | None
) -> Response:
    return page(
        request,
        "dashboard/tokens.html",
        session,
        tokens=list_tokens(runtime),
        roles=CHOOSABLE_ROLES,
        made=made,
    )


@router.post("/tokens")
def make_token(
    request: Request, session: ManagingTokens, runtime: RuntimeDep, form: Form
) -> Response:
    """The new token is on this answer only (not a redirect: it must not land in a URL)."""
    name = form.text("name", max_chars=NAME_MAX_CHARS)
    role = Role.parse(form.text("role", max_chars=20))
    token = create_token(runtime, name, role, actor=session.actor)
    made = {"name": name, "role": role.name.lower(), "token": token}
    return tokens_page(request, session, runtime, made=made)


@router.post("/tokens/{name}/revoke")
def revoke(name: str, session: ManagingTokens, runtime: RuntimeDep) -> Response:
    revoke_token(runtime, name, actor=session.actor)
    return see_other("/tokens")
