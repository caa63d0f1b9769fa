"""`GET /metrics`: backout's own metrics for Prometheus (operations/own_metrics.py).

It needs a token (role viewer or above), like every read: the metrics name the services and
how their releases fared. Prometheus sends one with `authorization: {credentials: ...}` in its
scrape config (docs/triggers.md).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CollectorRegistry

from backout.operations.own_metrics import CONTENT_TYPE, exposition
from backout.operations.tokens import Role
from backout.web.auth import Caller, caller_with
from backout.web.schemas import TOKEN_ERRORS, error_responses

router = APIRouter(tags=["metrics"], responses=error_responses(*TOKEN_ERRORS))

MetricsReader = Annotated[Caller, Depends(caller_with(Role.VIEWER, "reading metrics"))]


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus's text exposition format (version 0.0.4).",
            "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
        }
    },
    summary="backout's own metrics: runs, time to detect and recover, trigger readings",
)
async def metrics(request: Request, caller: MetricsReader) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    # The store is read at scrape time: in a worker thread, never on the event loop.
    body = await asyncio.to_thread(exposition, registry)
    return Response(body, media_type=CONTENT_TYPE)
