"""The flags page: each flag's state, and the kill switch for those whose role allows it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from backout.actions import flag_changes
from backout.operations import flags as flag_ops
from backout.web.auth import RuntimeDep
from backout.web.dashboard.access import ChangingFlags, SignedIn
from backout.web.dashboard.forms import Form
from backout.web.dashboard.pages import PageRoute, page, see_other

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/flags")
def flags(request: Request, session: SignedIn, runtime: RuntimeDep) -> Response:
    shown = [flag_ops.flag_view(flag) for flag in flag_ops.list_flags(runtime)]
    return page(request, "dashboard/flags.html", session, flags=shown)


@router.post("/flags/{key}/disable")
def kill_switch(key: str, session: ChangingFlags, runtime: RuntimeDep, form: Form) -> Response:
    flag_changes.disable(runtime, key, actor=session.actor, reason=form.text("reason"))
    return see_other(f"/flags#flag-{key}")


@router.post("/flags/{key}/enable")
def enable(key: str, session: ChangingFlags, runtime: RuntimeDep, form: Form) -> Response:
    flag_changes.enable(runtime, key, actor=session.actor, reason=form.text("reason"))
    return see_other(f"/flags#flag-{key}")
