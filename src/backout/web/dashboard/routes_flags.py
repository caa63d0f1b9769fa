"""The flags page: each flag's state, and, for those whose role allows it, the kill switch and
a ramp-down (stage by stage to off, each stage held with the guarded services' triggers armed)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from backout.actions import flag_changes
from backout.errors import RefusedError
from backout.operations import flags as flag_ops
from backout.operations.flag_runs import RampDown, start_ramp_down
from backout.plans.feature_flag import parse_hold, parse_stages
from backout.web.auth import ControllerDep, RuntimeDep
from backout.web.dashboard.access import ChangingFlags, SignedIn
from backout.web.dashboard.forms import Form, FormError
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


@router.post("/flags/{key}/ramp-down")
def ramp_down(
    key: str, session: ChangingFlags, runtime: RuntimeDep, controller: ControllerDep, form: Form
) -> Response:
    """Start the ramp-down as `backout flags ramp-down` does; the run page follows it."""
    try:
        stages, hold_s = parse_stages(form.text("stages")), parse_hold(form.text("hold"))
    except RefusedError as error:
        raise FormError(error.message) from None
    request = RampDown(key, stages, hold_s, reason=form.text("reason"))
    handle = start_ramp_down(runtime, request, actor=session.actor)
    handle.execute_in_background(controller)
    return see_other(f"/runs/{handle.run_id}")
