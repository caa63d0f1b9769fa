"""Read routes: services, releases, runs, incidents and the watch loop's decisions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from backout.operations import views
from backout.web.auth import RuntimeDep, Viewer, WorkDep
from backout.web.schemas import (
    IncidentDetailOut,
    IncidentOut,
    ReleaseOut,
    RunDetailOut,
    RunOut,
    ServiceStatusOut,
    WatchOut,
)

router = APIRouter(tags=["read"])

Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many, newest first.")]
View = dict[str, Any]


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
    summary="A service's releases, newest first",
)
def releases(service: str, runtime: RuntimeDep, caller: Viewer) -> list[View]:
    return views.release_history(runtime, service)


@router.get("/runs", response_model=list[RunOut], summary="Runs (rollbacks, deploys), newest first")
def runs(
    runtime: RuntimeDep,
    caller: Viewer,
    service: Annotated[str | None, Query(description="Only this service's runs.")] = None,
    limit: Limit = 50,
) -> list[View]:
    if service is not None:
        runtime.config.service(service)  # an unknown name is a 404 listing the known ones
    return views.list_runs(runtime, service=service, limit=limit)


@router.get("/runs/{run_id}", response_model=RunDetailOut, summary="One run with its steps")
def run(run_id: int, runtime: RuntimeDep, caller: Viewer) -> View:
    return views.run_detail(runtime, run_id)


@router.get("/incidents", response_model=list[IncidentOut], summary="Incidents, newest first")
def incidents(runtime: RuntimeDep, caller: Viewer, limit: Limit = 50) -> list[View]:
    return views.list_incidents(runtime, limit=limit)


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetailOut,
    summary="One incident with its timeline",
)
def incident(incident_id: int, runtime: RuntimeDep, caller: Viewer) -> View:
    return views.incident_detail(runtime, incident_id)


@router.get("/watch", summary="The watch loop's last decision per service, one sentence each")
def watch(work: WorkDep, caller: Viewer) -> WatchOut:
    return WatchOut(watching=work.watching, decisions=work.decisions())
