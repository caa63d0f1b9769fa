"""The services page (refreshed in place by htmx), a service's releases, and a rollback:
its plan shown first, then started once confirmed."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from backout.operations import views
from backout.operations.rollback import RollbackRequest, plan_rollback, start_rollback
from backout.runtime import Runtime
from backout.web.auth import ControllerDep, RuntimeDep
from backout.web.dashboard.access import RollingBack, SignedIn
from backout.web.dashboard.forms import Form
from backout.web.dashboard.pages import SECURITY_HEADERS, PageRoute, page, render_text, see_other
from backout.web.dashboard.sessions import DashboardSession
from backout.web.read_cache import ReadCache
from backout.web.routes_read import service_rows

router = APIRouter(route_class=PageRoute, include_in_schema=False)

RECENT_RUNS = 10
RELEASES_SHOWN = 50

Version = Annotated[str | None, Query(max_length=200, description="The version to go back to.")]


def _read_cache(request: Request) -> ReadCache:
    return cast(ReadCache, request.app.state.read_cache)


def services_page(request: Request, session: DashboardSession, runtime: Runtime) -> Response:
    return page(
        request,
        "dashboard/services.html",
        session,
        services=service_rows(runtime, _read_cache(request)),
        runs=views.list_runs(runtime, limit=RECENT_RUNS),
    )


@router.get("/fragments/services")
def services_fragment(request: Request, session: SignedIn, runtime: RuntimeDep) -> Response:
    """The services table's rows, for htmx to swap in every few seconds."""
    html = render_text(
        "dashboard/_services_rows.html",
        request=request,
        session=session,
        services=service_rows(runtime, _read_cache(request)),
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


@router.get("/services/{service}/releases")
def releases(request: Request, service: str, session: SignedIn, runtime: RuntimeDep) -> Response:
    history = views.release_history(runtime, service, limit=RELEASES_SHOWN)
    live = next((r["version"] for r in history if r["status"] == "live"), None)
    return page(
        request,
        "dashboard/releases.html",
        session,
        service=service,
        releases=history,
        live=live,
    )


@router.get("/services/{service}/rollback")
def rollback_plan(
    request: Request,
    service: str,
    session: SignedIn,
    runtime: RuntimeDep,
    to_version: Version = None,
) -> Response:
    """The plan a rollback would carry out, and the form that starts it (for an operator)."""
    plan = plan_rollback(runtime, RollbackRequest(service=service, to_version=to_version or None))
    return page(request, "dashboard/plan.html", session, service=service, plan=plan)


@router.post("/services/{service}/rollback")
def rollback(
    service: str,
    *,
    session: RollingBack,
    runtime: RuntimeDep,
    controller: ControllerDep,
    form: Form,
) -> Response:
    """Start the rollback the person confirmed, and show its run."""
    to_version = form.text("to_version", required=False, max_chars=200) or None
    wanted = RollbackRequest(service=service, to_version=to_version, reason=form.text("reason"))
    handle = start_rollback(runtime, wanted, actor=session.actor)
    handle.execute_in_background(controller)
    return see_other(f"/runs/{handle.run_id}")
