"""Rendering the dashboard: its templates (templates/dashboard/), the headers every page
carries, and the route class that turns an error into a page instead of the API's JSON."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import cache
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment

from backout.errors import BackoutError
from backout.operations.report import templates
from backout.operations.tokens import Role
from backout.store.tables import TERMINAL
from backout.web.dashboard.access import CSRF_FIELD, CSRF_HEADER, SignInNeededError
from backout.web.dashboard.sessions import DashboardSession
from backout.web.errors import http_status

HTMX = "vendor/htmx-2.0.11.min.js"
HTMX_SSE = "vendor/htmx-ext-sse-2.2.4.min.js"

# Scripts and styles come from /static only: a note or a title that slipped markup past the
# autoescaping could still not run a script. No page may be framed (clickjacking of buttons).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # pages show what a token may see: no shared cache keeps them
}


@cache
def environment() -> Environment:
    """The report's template environment (autoescaped HTML, `moment`), built once."""
    env = templates()
    env.globals.update(
        HTMX=HTMX,
        HTMX_SSE=HTMX_SSE,
        CSRF_FIELD=CSRF_FIELD,
        CSRF_HEADER=CSRF_HEADER,
        Role=Role,
        TERMINAL=TERMINAL,
    )
    return env


def render_text(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def page(
    request: Request,
    name: str,
    session: DashboardSession | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page `name` for the signed-in `session` (None: the sign-in form's pages)."""
    html = render_text(name, request=request, session=session, **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def see_other(url: str) -> RedirectResponse:
    """After a form's POST: the browser GETs `url` (reloading it sends nothing again)."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class PageRoute(APIRoute):
    """A dashboard route: a page asked for without a session answers the sign-in form's
    redirect; a refused or failed action answers an error page with the API's status."""

    def get_route_handler(self) -> Endpoint:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeededError:
                if request.headers.get("HX-Request") == "true":
                    # htmx would swap the sign-in page into a table: have it load the page.
                    return Response(status_code=200, headers={"HX-Redirect": "/"})
                return see_other("/")
            except BackoutError as error:
                status = http_status(error)
                return page(
                    request,
                    "dashboard/error.html",
                    None,
                    status_code=status,
                    status=status,
                    error=error,
                )

        return page_handler
