"""The dashboard: server-rendered pages for the person on call, signed in with an API token.

Each route parses the request, calls the one function of the core that the CLI and the API
call too, and renders a template of templates/dashboard/; htmx (vendored under static/)
refreshes parts in place, and a run's steps arrive by server-sent events. docs/dashboard.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from backout.operations.tokens import authenticate_digest
from backout.runtime import Runtime
from backout.web.dashboard import (
    routes_databases,
    routes_flags,
    routes_incidents,
    routes_runs,
    routes_services,
    routes_sign_in,
    routes_tokens,
)
from backout.web.dashboard.sessions import SessionStore

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def install(app: FastAPI, runtime: Runtime) -> None:
    """Add the dashboard's pages, its /static files and its session store to `app`."""
    app.state.dashboard_sessions = SessionStore(
        lambda digest: authenticate_digest(runtime, digest), runtime.clock.monotonic
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    modules = (
        routes_sign_in,
        routes_services,
        routes_runs,
        routes_flags,
        routes_incidents,
        routes_databases,
        routes_tokens,
    )
    for module in modules:
        app.include_router(module.router)
