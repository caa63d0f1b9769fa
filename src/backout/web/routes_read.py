"""Read routes: services, releases, runs, incidents and the watch loop's decisions.

Lists and the store's facts of every service are kept until the store changes (read_cache.py)
and sent as the JSON of the views; each route's response model documents that shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from backout.limits import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from backout.operations import service_facts, views
from backout.operations.incident_charts import incident_charts
from backout.runtime import Runtime
from backout.web.auth import ControllerDep, ReadCacheDep, RuntimeDep, Viewer
from backout.web.read_cache import ReadCache
from backout.web.schemas import (
    TOKEN_ERRORS,
    IncidentChartsOut,
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


@dataclass(frozen=True)
class Page:
    """One page of a list as sent: its JSON, and the link to the next page when it is full."""

    body: bytes
    next_link: str | None


def page_response(
    request: Request, cache: ReadCache, key: str, read: Callable[[], list[View]], limit: int
) -> Response:
    """The page `read()` gives (kept until the store changes), with a
    `Link: <...?before=ID>; rel="next"` header when it is full (there may be more; a page
    with fewer than `limit` items is the last)."""

    def encoded() -> Page:
        page = read()
        link = None
        if len(page) == limit:
            following = request.url.include_query_params(before=page[-1]["id"], limit=limit)
            link = f'<{following.path}?{following.query}>; rel="next"'
        return Page(encode(page), link)

    page = cache.get(key, encoded)
    headers = {"Link": page.next_link} if page.next_link else None
    return Response(page.body, media_type="application/json", headers=headers)


def encode(value: Any) -> bytes:
    # The views hold JSON types only and the response models document them (a test keeps the
    # two in step), so they are sent as they are, not validated again at each request.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@router.get(
    "/services",
    response_model=list[ServiceStatusOut],
    summary="Every service: live version, last known good, active runs, open incidents",
)
def services(runtime: RuntimeDep, cache: ReadCacheDep, caller: Viewer) -> Response:
    body = encode(service_rows(runtime, cache))
    return Response(body, media_type="application/json")


def service_rows(runtime: Runtime, cache: ReadCache) -> list[dict[str, Any]]:
    """Each service as `GET /api/v1/services` answers it: what the store knows is kept until it
    changes; what the drivers see is asked each time."""
    facts = cache.get("service-facts", lambda: service_facts.read_facts(runtime))
    return service_facts.service_statuses(runtime, facts)


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
    runtime: RuntimeDep,
    cache: ReadCacheDep,
    caller: Viewer,
    limit: Limit = DEFAULT_PAGE_SIZE,
    before: Before = None,
) -> Response:
    runtime.config.service(service)  # an unknown name is a 404 listing the known ones
    return page_response(
        request,
        cache,
        f"releases|{service}|{limit}|{before}",
        lambda: views.release_history(runtime, service, limit=limit, before=before),
        limit,
    )


@router.get(
    "/runs",
    response_model=list[RunOut],
    responses=_NOT_FOUND,
    summary="Runs (rollbacks, deploys), newest first",
)
def runs(
    *,
    request: Request,
    runtime: RuntimeDep,
    cache: ReadCacheDep,
    caller: Viewer,
    service: Annotated[str | None, Query(description="Only this service's runs.")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    before: Before = None,
) -> Response:
    return page_response(
        request,
        cache,
        f"runs|{service}|{limit}|{before}",
        lambda: views.list_runs(runtime, service=service, limit=limit, before=before),
        limit,
    )


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
    runtime: RuntimeDep,
    cache: ReadCacheDep,
    caller: Viewer,
    limit: Limit = DEFAULT_PAGE_SIZE,
    before: Before = None,
) -> Response:
    return page_response(
        request,
        cache,
        f"incidents|{limit}|{before}",
        lambda: views.list_incidents(runtime, limit=limit, before=before),
        limit,
    )


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetailOut,
    responses=_NOT_FOUND,
    summary="One incident with its timeline",
)
def incident(incident_id: int, runtime: RuntimeDep, caller: Viewer) -> View:
    return views.incident_detail(runtime, incident_id)


@router.get(
    "/incidents/{incident_id}/metrics",
    response_model=IncidentChartsOut,
    responses=_NOT_FOUND,
    summary="What the triggers judged around an incident: series, thresholds and moments",
)
def incident_metrics(incident_id: int, runtime: RuntimeDep, caller: Viewer) -> View:
    return incident_charts(runtime, incident_id).as_dict()


@router.get("/watch", summary="The watch loop's last decision per service, one sentence each")
def watch(controller: ControllerDep, caller: Viewer) -> WatchOut:
    return WatchOut(watching=controller.watching, decisions=controller.decisions())
