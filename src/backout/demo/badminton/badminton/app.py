"""The HTTP API and the front page of Badminton Group."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from . import accounts, bookings, conditions, sessions, telemetry
from .db import DATABASE_ERRORS, Database, describe
from .release import VERSION
from .tables import group_members, groups, members

logger = logging.getLogger("badminton")

PAGE = Path(__file__).resolve().parent.parent / "dist" / "index.html"

database = Database.from_environment()


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    try:
        database.prepare()
    except DATABASE_ERRORS as exc:
        # Start anyway: /health says 503 until the database is usable, which is the point of it.
        logger.error("database %s is not usable: %s", database.name, describe(exc))
    yield


app = FastAPI(
    title="Badminton Group",
    version=VERSION,
    lifespan=lifespan,
    dependencies=[Depends(conditions.before_api_request)],
)
# The last added is the outermost: the metrics see the slowdown and the injected faults.
app.add_middleware(conditions.Slowdown, factor=conditions.CONDITIONS.slowdown)
app.add_middleware(telemetry.RequestMetrics, version=VERSION)


class SignIn(BaseModel):
    email: str = Field(min_length=3, max_length=254)


class BookingRequest(BaseModel):
    session_id: int


Bearer = Annotated[str | None, Header(alias="Authorization")]
"""The sign-in token of the member a request acts for: `Authorization: Bearer TOKEN`."""


@app.exception_handler(SQLAlchemyError)
async def database_failed(request: Request, exc: SQLAlchemyError) -> JSONResponse:
    logger.error("%s %s failed: %s", request.method, request.url.path, describe(exc))
    return JSONResponse(status_code=500, content={"detail": "database error"})


@app.get("/health")
def health() -> JSONResponse:
    problem = database.check()
    if problem is not None:
        body = {"status": "unavailable", "version": VERSION, "database": problem}
        return JSONResponse(status_code=503, content=body)
    return JSONResponse(content={"status": "ok", "version": VERSION, "database": "ok"})


@app.get(telemetry.METRICS_PATH, include_in_schema=False)
def metrics() -> Response:
    return telemetry.exposition()


@app.get("/version")
def version() -> dict[str, str]:
    return {"version": VERSION}


@app.get("/", response_class=HTMLResponse)
def front_page() -> HTMLResponse:
    try:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))
    except OSError:
        return HTMLResponse("front end not built: run python -m badminton.build", status_code=503)


@app.post("/api/signin")
def sign_in(body: SignIn) -> dict[str, Any]:
    with database.connect(writes=True) as conn:
        signed_in = accounts.sign_in(conn, body.email)
    if signed_in is None:
        raise HTTPException(status_code=401, detail="no member has this email")
    token, member = signed_in
    return {"token": token, "member": member}


@app.get("/api/sessions")
def list_sessions() -> list[dict[str, Any]]:
    with database.connect() as conn:
        return sessions.list_sessions(conn)


def _signed_in_member(conn: Connection, authorization: str | None) -> int:
    """The id of the member whose sign-in token the request bears; 401 without one."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(status_code=401, detail="sign in first: Authorization: Bearer TOKEN")
    member = accounts.member_for_token(conn, token.strip())
    if member is None:
        raise HTTPException(status_code=401, detail="unknown or expired token")
    member_id: int = member["id"]
    return member_id


@contextmanager
def _booking_answers() -> Iterator[None]:
    """A refused booking as the HTTP status that says why."""
    try:
        yield
    except bookings.BookingRefused as refused:
        raise HTTPException(status_code=refused.status, detail=refused.reason) from None


@app.post("/api/bookings", status_code=201)
def create_booking(body: BookingRequest, authorization: Bearer = None) -> dict[str, Any]:
    with database.connect(writes=True) as conn, _booking_answers():
        member_id = _signed_in_member(conn, authorization)
        return bookings.book(conn, member_id, body.session_id)


@app.get("/api/bookings/{booking_id}")
def read_booking(booking_id: int, authorization: Bearer = None) -> dict[str, Any]:
    with database.connect() as conn, _booking_answers():
        member_id = _signed_in_member(conn, authorization)
        return bookings.booking_of(conn, member_id, booking_id)


@app.delete("/api/bookings/{booking_id}")
def cancel_booking(booking_id: int, authorization: Bearer = None) -> dict[str, Any]:
    with database.connect(writes=True) as conn, _booking_answers():
        member_id = _signed_in_member(conn, authorization)
        return bookings.cancel(conn, member_id, booking_id)


@app.delete("/api/sessions/{session_id}/booking")
def cancel_booking_in_session(session_id: int, authorization: Bearer = None) -> dict[str, Any]:
    with database.connect(writes=True) as conn, _booking_answers():
        member_id = _signed_in_member(conn, authorization)
        return bookings.cancel_in_session(conn, member_id, session_id)


@app.get("/api/members")
def list_members() -> list[dict[str, Any]]:
    query = select(members.c.id, members.c.name, members.c.email).order_by(members.c.id)
    with database.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


@app.get("/api/groups")
def list_groups() -> list[dict[str, Any]]:
    query = (
        select(groups.c.id, groups.c.name, groups.c.venue, func.count(group_members.c.member_id))
        .outerjoin(group_members, group_members.c.group_id == groups.c.id)
        .group_by(groups.c.id)
        .order_by(groups.c.id)
    )
    with database.connect() as conn:
        rows = conn.execute(query).all()
    return [{"id": i, "name": name, "venue": venue, "members": n} for i, name, venue, n in rows]
