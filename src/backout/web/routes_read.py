"""Read routes: services, releases, runs, incidents and the watch loop's decisions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from backout.limits import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from backout.operations import views
from backout.web.auth import RuntimeDep, Viewer, WorkDep
from backout.web.schemas import (
    TOKEN_ERRORS,
    IncidentDetailOut,
    IncidentOut,
    ReleaseOut,
    RunDetailOut,
    RunOut,
    ServiceStatusOut,
    WatchOut,
    error_responses,
)

router = APIRouter(tags=["read"], responses=error_responses(*TOKEN_ERRORS))
_NOT_FOUND = error_responses(404)

Limit = Annotated[
    int, Query(ge=1, le=MAX_PAGE_SIZE, description="At most this many, newest first.")
]
Before = Annotated[
    int | None,
    Query(ge=1, description="Only ids below this one: the last id of the page before."),
]
View = dict[str, Any]


def paged(request: Request, response: Response, page: list[View], limit: int) -> list[View]:
    """`page` as it is, with a `Link: <...?before=ID>; rel="next"` header when it is full
    (there may be more; a page with fewer than `limit` items is the last)."""
    if len(page) == limit:
        following = request.url.include_query_params(before=page[-1]["id"], limit=limit)
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return page


@router.get(
    "/services",
    response_model=list[ServiceStatusOut],
    summary="Every service: live version, last known good, active runs, open incidents",
)
def services(runtime: RuntimeDep, caller: Viewer) -> list[View]:
    return views.service_statuses(runtime)


@router.get(
    "/services/{service}/releases",
    response_model=list[ReleaseOut],
    responses=_NOT_FOUND,
    summary="A service's releases, newest first",
)
def releases(
    service: str,
    *,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    caller: Viewer,
    limit: Limit = DEFAULT_PAGE_SIZE,
    before: Before = None,
) -> list[View]:
    page = views.release_history(runtime, service, limit=limit, before=before)
    return paged(request, response, page, limit)


@router.get(
    "/runs",
    response_model=list[RunOut],
    responses=_NOT_FOUND,
    summary="Runs (rollbacks, deploys), newest first",
)
def runs(
    *,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    caller: Viewer,
    service: Annotated[str | None, Query(description="Only this service's runs.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    before: Before = None,
) -> list[View]:
    if service is not None:
        runtime.config.service(service)  # an unknown name is a 404 listing the known ones
    page = views.list_runs(runtime, service=service, limit=limit, before=before)
    return paged(request, response, page, limit)


@router.get(
    "/runs/{run_id}",
    response_model=RunDetailOut,
    responses=_NOT_FOUND,
    summary="One run with its steps",
)
def run(run_id: int, runtime: RuntimeDep, caller: Viewer) -> View:
    return views.run_detail(runtime, run_id)


@router.get("/incidents", response_model=list[IncidentOut], summary="Incidents, newest first")
def incidents(
    *,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    caller: Viewer,
    limit: Limit = DEFAULT_PAGE_SIZE,
    before: Before = None,
) -> list[View]:
    page = views.list_incidents(runtime, limit=limit, before=before)
    return paged(request, response, page, limit)


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetailOut,
    responses=_NOT_FOUND,
    summary="One incident with its timeline",
)
def incident(incident_id: int, runtime: RuntimeDep, caller: Viewer) -> View:
    return views.incident_detail(runtime, incident_id)


@router.get("/watch", summary="The watch loop's last decision per service, one sentence each")
def watch(work: WorkDep, caller: Viewer) -> WatchOut:
    return WatchOut(watching=work.watching, decisions=work.decisions())
