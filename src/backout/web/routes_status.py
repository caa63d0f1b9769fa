"""The public status page, served without a token: `/status` (HTML) and its JSON in
Statuspage's summary.json shape at `/status/summary.json` and `/api/v2/summary.json` (where
Statuspage clients look for it). What it shows is chosen in operations/status_page.py.

Answers carry an ETag and a short max-age: a page polled by many is answered 304 while
nothing changed, and kept by caches for a few seconds.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter, Request, Response

from backout.errors import NotFoundError
from backout.operations.report import templates
from backout.operations.status_page import read_summary
from backout.runtime import Runtime
from backout.web.auth import ReadCacheDep, RuntimeDep
from backout.web.read_cache import ReadCache
from backout.web.schemas import error_responses
from backout.web.schemas_report import SummaryOut

router = APIRouter(tags=["status page"])

MAX_AGE_S = 10  # how long a cache may keep the page: a status older than this is stale
CACHE_CONTROL = f"public, max-age={MAX_AGE_S}"
_PUBLIC_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified since the ETag sent in If-None-Match."},
    **error_responses(404),
}


@router.get(
    "/status",
    response_class=Response,
    responses={
        200: {
            "description": "The status page (HTML).",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        **_PUBLIC_RESPONSES,
    },
    summary="The public status page (no token needed)",
)
def status_page(request: Request, runtime: RuntimeDep, cache: ReadCacheDep) -> Response:
    summary = _summary(request, runtime, cache)
    html = (
        templates()
        .get_template("status.html")
        .render(summary=summary, url_json=request.url_for("summary_json"))
    )
    return _cacheable(request, html.encode(), "text/html; charset=utf-8")


@router.get(
    "/status/summary.json",
    response_model=SummaryOut,
    responses=_PUBLIC_RESPONSES,
    summary="The status page as Statuspage's summary.json (no token needed)",
)
def summary_json(request: Request, runtime: RuntimeDep, cache: ReadCacheDep) -> Response:
    body = json.dumps(_summary(request, runtime, cache), separators=(",", ":")).encode()
    return _cacheable(request, body, "application/json")


# Where Statuspage's clients (and its embed widget) read a page's summary.
router.add_api_route(
    "/api/v2/summary.json",
    summary_json,
    methods=["GET"],
    response_model=SummaryOut,
    responses=_PUBLIC_RESPONSES,
    summary="Statuspage's summary.json path for the same answer (no token needed)",
)


def _summary(request: Request, runtime: Runtime, cache: ReadCache) -> dict[str, Any]:
    settings = runtime.config.status_page
    if not settings.enabled:
        raise NotFoundError("the status page is off", hint="set status_page.enabled: true")
    url = settings.url or str(request.url_for("status_page"))
    now = runtime.clock.now()
    # Kept while the store is unchanged, and for a minute at most: a resolved incident leaves
    # the page `recent_days` after, with no write to the store to say so.
    key = f"status-summary|{url}|{now:%Y%m%d%H%M}"

    def read() -> dict[str, Any]:
        with runtime.store.connection() as connection:
            return read_summary(
                connection, runtime.config, runtime.environment, now=now, page_url=url
            )

    summary: dict[str, Any] = cache.get(key, read)
    return summary


def _cacheable(request: Request, body: bytes, media_type: str) -> Response:
    """`body` with its ETag; 304 and no body when the client holds that version already."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    held = request.headers.get("if-none-match", "")
    if etag in {tag.strip() for tag in held.split(",")} or held.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
