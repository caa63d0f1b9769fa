"""Incidents: the list, one incident (charts, timeline, objectives, checklist), its report to
download."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response

from backout.operations import views
from backout.operations.incident_charts import incident_charts
from backout.operations.report import MEDIA_TYPES, ReportFormat, render_report
from backout.web.auth import RuntimeDep
from backout.web.dashboard.access import SignedIn
from backout.web.dashboard.charts import chart_views
from backout.web.dashboard.pages import SECURITY_HEADERS, PageRoute, page

router = APIRouter(route_class=PageRoute, include_in_schema=False)

INCIDENTS_SHOWN = 50


@router.get("/incidents")
def incidents(request: Request, session: SignedIn, runtime: RuntimeDep) -> Response:
    shown = views.list_incidents(runtime, limit=INCIDENTS_SHOWN)
    return page(request, "dashboard/incidents.html", session, incidents=shown)


@router.get("/incidents/{incident_id}")
def incident(
    request: Request, incident_id: int, session: SignedIn, runtime: RuntimeDep
) -> Response:
    shown = views.incident_detail(runtime, incident_id)
    charts = chart_views(incident_charts(runtime, incident_id))
    return page(request, "dashboard/incident.html", session, incident=shown, charts=charts)


@router.get("/incidents/{incident_id}/report.{extension}")
async def report(
    incident_id: int, extension: Literal["md", "html"], session: SignedIn, runtime: RuntimeDep
) -> Response:
    """The post-incident report as a file to keep (the API's report, as an attachment)."""
    fmt = ReportFormat(extension)
    text = await asyncio.to_thread(render_report, runtime, incident_id, fmt)
    filename = f"incident-{incident_id}-report.{extension}"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(text, media_type=MEDIA_TYPES[fmt], headers=headers)
