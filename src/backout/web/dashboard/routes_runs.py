"""A run, live: its page, its steps streamed by server-sent events as they change, and the
approve and abort buttons of those whose role allows them."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from backout.operations import views
from backout.operations.rollback import abort_run, approve_run, asked_at_the_gate
from backout.runtime import Runtime
from backout.store.tables import TERMINAL
from backout.web.auth import ControllerDep, RuntimeDep
from backout.web.dashboard.access import Aborting, Approving, SignedIn, live_session
from backout.web.dashboard.forms import Form
from backout.web.dashboard.pages import PageRoute, page, render_text, see_other
from backout.web.dashboard.sessions import DashboardSession
from backout.web.flag_feed import FlagFeed
from backout.web.read_cache import ReadCache

router = APIRouter(route_class=PageRoute, include_in_schema=False)

POLL_S = 0.25  # how often a stream looks for a change (a read of the store, kept while unchanged)
HEARTBEAT_S = 15.0  # a comment line that keeps proxies from closing an idle stream
STREAM_MAX_S = 600.0  # then the stream ends and the browser reconnects (its session rechecked)
# The parts of the run page the stream sends, each as an event of its name when it changed:
# the state and the buttons (their forms kept while a person types), and the steps.
LIVE_PARTS = ("actions", "steps")


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: int, session: SignedIn, runtime: RuntimeDep) -> Response:
    run = _run_view(runtime, run_id)
    # The stream is told what the page shows, so its first events do not swap in the same
    # parts again (which would wipe a reason typed into the abort form meanwhile).
    seen = urlencode({part: _digest(_live_part(part, session, run)) for part in LIVE_PARTS})
    live = run["state"] not in TERMINAL
    return page(request, "dashboard/run.html", session, run=run, live=live, seen=seen)


@router.get("/runs/{run_id}/events")
async def run_events(
    request: Request,
    run_id: int,
    session: SignedIn,
    runtime: RuntimeDep,
    *,
    actions: str = "",
    steps: str = "",
) -> Response:
    """`event: actions` and `event: steps`, each with that part of the run page as HTML each
    time it differs from what was shown (the page passes the digests of its own parts);
    `event: done` once the run has ended (the page then closes the stream)."""
    await asyncio.to_thread(views.run_detail, runtime, run_id)  # an unknown run is a 404 page
    seen = {"actions": actions, "steps": steps}
    return StreamingResponse(
        _run_stream(request, run_id, session, runtime, seen),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _run_stream(
    request: Request,
    run_id: int,
    session: DashboardSession,
    runtime: Runtime,
    shown: dict[str, str],
) -> AsyncIterator[str]:
    cache = cast(ReadCache, request.app.state.read_cache)
    # The flag feed closes when the server starts to stop (streaming_server.py): so do these.
    feed = cast(FlagFeed, request.app.state.flag_feed)
    started = last_sent = time.monotonic()
    while not feed.closed and time.monotonic() - started < STREAM_MAX_S:
        if await request.is_disconnected():
            return
        current = await live_session(request, session.id)
        if current is None:
            return  # signed out, or its token revoked: nothing more is shown
        run = await asyncio.to_thread(_read_run, cache, runtime, run_id)
        for part in LIVE_PARTS:
            html = _live_part(part, current, run)
            if shown.get(part) != (digest := _digest(html)):
                shown[part], last_sent = digest, time.monotonic()
                yield server_sent_event(part, html)
        if run["state"] in TERMINAL:
            yield server_sent_event("done", "")
            return
        if time.monotonic() - last_sent >= HEARTBEAT_S:
            last_sent = time.monotonic()
            yield ": still here\n\n"
        await asyncio.sleep(POLL_S)


def _live_part(part: str, session: DashboardSession, run: dict[str, Any]) -> str:
    return render_text(f"dashboard/_run_{part}.html", session=session, run=run)


def _digest(html: str) -> str:
    return hashlib.blake2b(html.encode(), digest_size=8).hexdigest()


def _read_run(cache: ReadCache, runtime: Runtime, run_id: int) -> dict[str, Any]:
    run: dict[str, Any] = cache.get(f"run-page|{run_id}", lambda: _run_view(runtime, run_id))
    return run


def _run_view(runtime: Runtime, run_id: int) -> dict[str, Any]:
    """The run as the API shows it, and the checklist items its gate asks the approver to
    confirm (`asks`: `{id, title, text}`) while it waits for the approval."""
    run = views.run_detail(runtime, run_id)
    asked = asked_at_the_gate(runtime, run_id) if run["state"] == "awaiting_approval" else []
    return {**run, "asks": [{"id": i.id, "title": i.title, "text": i.text} for i in asked]}


def server_sent_event(event: str, data: str) -> str:
    """One event; each line of `data` on a `data:` line of its own, as the format wants."""
    lines = "".join(f"data: {line}\n" for line in (data.splitlines() or [""]))
    return f"event: {event}\n{lines}\n"


@router.post("/runs/{run_id}/approve")
def approve(
    run_id: int, session: Approving, runtime: RuntimeDep, controller: ControllerDep, form: Form
) -> Response:
    """Approve, confirming the checklist items ticked in the form (each an item the gate asked
    for; an unknown one is refused, nothing approved)."""
    confirmed = form.every("confirm")
    approve_run(runtime, run_id, session.actor, confirm=confirmed).execute_in_background(controller)
    return see_other(f"/runs/{run_id}")


@router.post("/runs/{run_id}/abort")
def abort(
    run_id: int,
    session: Aborting,
    runtime: RuntimeDep,
    form: Form,
) -> Response:
    abort_run(runtime, run_id, session.actor, form.text("reason"))
    return see_other(f"/runs/{run_id}")
