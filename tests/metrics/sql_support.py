"""A club database (members, bookings) on a real SQLite file or a real PostgreSQL database, for
the data checks' tests; and a way to wait for what a source reads."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from backout.config import PluginSpec
from backout.metrics import METRIC_SOURCES, MetricSource, MetricsSnapshot
from backout.registry import PluginContext

WHERE = ("services", "club", "metrics")

CLUB_TABLES = (
    "CREATE TABLE members (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL)",
    "CREATE TABLE bookings (id INTEGER PRIMARY KEY, member_id INTEGER, "
    "created_at TIMESTAMP NOT NULL)",
)


@dataclass
class ClubDatabase:
    """A database with the demo app's members and bookings; `execute` writes with autocommit."""

    kind: str  # sqlite or postgresql
    url: str

    def execute(self, statement: str, *params: Any) -> None:
        if self.kind == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as db:
                db.execute(statement.replace("%s", "?"), params)
            return
        with psycopg.connect(self.url.replace("+psycopg", ""), autocommit=True) as db:
            db.execute(statement, params)  # type: ignore[arg-type]  # the tests' own SQL

    def add_members(self, first: int, last: int) -> None:
        for number in range(first, last + 1):
            self.execute(
                "INSERT INTO members (id, email, name) VALUES (%s, %s, %s)",
                number,
                f"m{number}@club",
                f"Member {number}",
            )


def sqlite_club(folder: Path) -> ClubDatabase:
    club = ClubDatabase("sqlite", f"sqlite:///{folder / 'club.db'}")
    for statement in CLUB_TABLES:
        club.execute(statement)
    return club


def postgres_club(url: str) -> ClubDatabase:
    club = ClubDatabase("postgresql", url)
    for statement in CLUB_TABLES:
        club.execute(statement.replace("TIMESTAMP", "TIMESTAMPTZ"))
    return club


def context(tmp_path: Path) -> PluginContext:
    return PluginContext("club", tmp_path / "backout.yaml", tmp_path, tmp_path / ".backout")


def build_sql(settings: dict[str, Any], tmp_path: Path) -> MetricSource:
    return METRIC_SOURCES.build(PluginSpec(type="sql", **settings), WHERE, context(tmp_path))


def wait_for(
    source: MetricSource,
    condition: Callable[[MetricsSnapshot], bool],
    what: str,
    *,
    since: float | None = None,
    timeout_s: float = 15,
) -> MetricsSnapshot:
    """The first snapshot of `source` meeting `condition`; fails saying `what` after a while."""
    deadline = time.monotonic() + timeout_s
    while True:
        snapshot = source.snapshot(since=since)
        if condition(snapshot):
            return snapshot
        assert time.monotonic() < deadline, f"{what}: never seen; last {snapshot}"
        time.sleep(0.02)
