"""Data checks (`type: sql`): each kind of check read from a real SQLite file and a real
PostgreSQL database, read-only and bounded in time; a failing query costs only its metric, an
unreachable database makes the snapshot's problem."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backout.metrics import MetricSource
from tests.metrics.sql_support import (
    ClubDatabase,
    build_sql,
    postgres_club,
    sqlite_club,
    wait_for,
)
from tests.pg import find_bindir, free_port, start_cluster

MEMBERS = {"name": "members", "count": "SELECT count(*) FROM members"}
FAST = {"interval": "100ms", "window": "30s", "timeout": "2s"}


@pytest.fixture(params=["sqlite", "postgresql"])
def club(request: pytest.FixtureRequest, tmp_path: Path) -> ClubDatabase:
    if request.param == "sqlite":
        return sqlite_club(tmp_path)
    return postgres_club(request.getfixturevalue("postgres_url"))


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[MetricSource]]:
    """The sources a test started, closed after it."""
    sources: list[MetricSource] = []
    yield sources
    for source in sources:
        source.close()


def start(
    started: list[MetricSource], club: ClubDatabase, tmp_path: Path, *checks: dict[str, str]
) -> MetricSource:
    source = build_sql({"url": club.url, **FAST, "checks": list(checks)}, tmp_path)
    source.start()
    started.append(source)
    return source


def test_a_count_reads_the_rows_and_its_drop_below_the_highest_count_seen(
    club: ClubDatabase, tmp_path: Path, started: list[MetricSource]
) -> None:
    club.add_members(1, 10)
    source = start(started, club, tmp_path, MEMBERS)
    before = wait_for(source, lambda s: s.value("members_count") == 10, "10 members")
    assert before.value("members_drop") == 0.0

    club.execute("DELETE FROM members WHERE id <= 3")
    after = wait_for(source, lambda s: s.value("members_count") == 7, "7 members left")

    assert after.value("members_drop") == pytest.approx(0.3)
    assert after.catalogue.show("members_drop", 0.3) == "30.0%"
    assert "SELECT count(*) FROM members" in after.measured_by["members_drop"]
    club.add_members(11, 20)
    grown = wait_for(source, lambda s: s.value("members_count") == 17, "17 members")
    assert grown.value("members_drop") == 0.0, "more than ever before is no drop"


def test_an_invariant_counts_the_rows_that_violate_it(
    club: ClubDatabase, tmp_path: Path, started: list[MetricSource]
) -> None:
    club.add_members(1, 3)
    orphans = {
        "name": "orphan_bookings",
        "invariant": "SELECT count(*) FROM bookings b "
        "LEFT JOIN members m ON m.id = b.member_id WHERE m.id IS NULL",
    }
    source = start(started, club, tmp_path, orphans)
    wait_for(source, lambda s: s.value("orphan_bookings_violations") == 0, "no orphans")

    club.execute("INSERT INTO bookings VALUES (1, 99, %s)", datetime.now(UTC).isoformat())
    club.execute("INSERT INTO bookings VALUES (2, 98, %s)", datetime.now(UTC).isoformat())

    wait_for(source, lambda s: s.value("orphan_bookings_violations") == 2, "two orphans")


def test_freshness_is_the_age_of_the_newest_time_a_time_without_zone_being_utc(
    club: ClubDatabase, tmp_path: Path, started: list[MetricSource]
) -> None:
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)
    club.execute("INSERT INTO bookings VALUES (1, 1, %s)", an_hour_ago.isoformat(" "))
    newest = {"name": "bookings", "freshness": "SELECT max(created_at) FROM bookings"}
    source = start(started, club, tmp_path, newest)

    snapshot = wait_for(source, lambda s: s.samples > 0, "a round of checks")
    assert snapshot.value("bookings_age") == pytest.approx(3600, abs=30)

    club.execute("INSERT INTO bookings VALUES (2, 1, %s)", datetime.now(UTC).isoformat(" "))
    fresh = wait_for(source, lambda s: (s.value("bookings_age") or 99) < 30, "a fresh booking")
    assert fresh.catalogue.show("bookings_age", 3600) == "3600.0s"


def test_a_failing_query_costs_only_its_metric_and_says_why(
    club: ClubDatabase, tmp_path: Path, started: list[MetricSource]
) -> None:
    club.add_members(1, 2)
    source = start(
        started,
        club,
        tmp_path,
        MEMBERS,
        {"name": "typo", "count": "SELECT count(*) FROM membres"},
        {"name": "words", "invariant": "SELECT 'many'"},
        {"name": "nothing", "invariant": "SELECT 1 FROM members WHERE id < 0"},
        {"name": "never", "freshness": "SELECT max(created_at) FROM bookings"},
    )
    snapshot = wait_for(source, lambda s: s.samples > 0, "a round of checks")

    assert snapshot.problem is None
    assert snapshot.value("members_count") == 2
    for metric in ("typo_count", "typo_drop", "words_violations", "never_age"):
        assert snapshot.value(metric) is None, metric
    assert "membres" in snapshot.measured_by["typo_count"]
    assert "the query failed" in snapshot.measured_by["typo_count"]
    assert "returned 'many' (str), not a number" in snapshot.measured_by["words_violations"]
    assert "returned no rows" in snapshot.measured_by["nothing_violations"]
    assert "returned NULL" in snapshot.measured_by["never_age"]


def test_the_checks_never_write(
    club: ClubDatabase, tmp_path: Path, started: list[MetricSource]
) -> None:
    club.add_members(1, 4)
    wiping = {
        "name": "wiped",
        "invariant": "DELETE FROM members RETURNING id"
        if club.kind == "sqlite"
        else "WITH gone AS (DELETE FROM members RETURNING id) SELECT count(*) FROM gone",
    }
    source = start(started, club, tmp_path, wiping, MEMBERS)

    snapshot = wait_for(source, lambda s: s.samples >= 2, "two rounds of checks")

    assert snapshot.value("wiped_violations") is None
    assert "read-only" in snapshot.measured_by["wiped_violations"].replace("readonly", "read-only")
    assert snapshot.value("members_count") == 4


def test_a_query_running_past_the_timeout_is_stopped(
    club: ClubDatabase, tmp_path: Path, started: list[MetricSource]
) -> None:
    endless = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
        if club.kind == "sqlite"
        else "SELECT count(*) FROM pg_sleep(30)"
    )
    source = build_sql(
        {
            "url": club.url,
            **FAST,
            "timeout": "200ms",
            "checks": [{"name": "slow", "invariant": endless}],
        },
        tmp_path,
    )
    started.append(source)
    began = time.monotonic()
    source.start()

    snapshot = wait_for(source, lambda s: s.samples > 0, "a round despite the slow query")

    assert time.monotonic() - began < 10
    assert snapshot.value("slow_violations") is None
    reason = snapshot.measured_by["slow_violations"]
    assert "interrupted" in reason or "statement timeout" in reason, reason


def test_only_rounds_since_the_given_time_count_for_the_drop(
    club: ClubDatabase, tmp_path: Path, started: list[MetricSource]
) -> None:
    club.add_members(1, 10)
    source = start(started, club, tmp_path, MEMBERS)
    wait_for(source, lambda s: s.value("members_count") == 10, "10 members")
    club.execute("DELETE FROM members WHERE id <= 5")
    wait_for(source, lambda s: s.value("members_drop") == 0.5, "half the members gone")

    since = time.time()
    after = wait_for(source, lambda s: s.samples > 0, "a round since", since=since)

    assert after.value("members_count") == 5
    assert after.value("members_drop") == 0.0, "what was lost before `since` is not held"


def test_a_missing_sqlite_file_is_a_problem_not_a_new_database(
    tmp_path: Path, started: list[MetricSource]
) -> None:
    source = build_sql({"url": "sqlite:///absent.db", **FAST, "checks": [MEMBERS]}, tmp_path)
    started.append(source)
    source.start()

    snapshot = wait_for(source, lambda s: s.problem is not None, "a problem")

    assert snapshot.samples == 0
    assert snapshot.value("members_count") is None
    assert "absent.db" in snapshot.problem
    assert snapshot.summary().startswith("cannot read the source: cannot reach sqlite:///")
    assert not (tmp_path / "absent.db").exists()


def test_an_unreachable_server_is_a_problem_that_never_shows_the_password(
    tmp_path: Path, started: list[MetricSource]
) -> None:
    url = f"postgresql://club:hunter2-secret@127.0.0.1:{free_port()}/club"
    source = build_sql({"url": url, **FAST, "checks": [MEMBERS]}, tmp_path)
    started.append(source)
    source.start()

    snapshot = wait_for(source, lambda s: s.problem is not None, "a problem")

    assert snapshot.problem is not None
    assert "hunter2" not in snapshot.problem
    assert "127.0.0.1" in snapshot.problem


def test_a_database_stopped_while_watched_is_a_problem(
    tmp_path: Path, started: list[MetricSource]
) -> None:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    cluster = start_cluster(bindir)
    try:
        club = postgres_club(cluster.url(cluster.create_database()))
        club.add_members(1, 3)
        source = start(started, club, tmp_path, MEMBERS)
        wait_for(source, lambda s: s.value("members_count") == 3, "3 members")

        cluster.stop()
        stopped = wait_for(source, lambda s: s.problem is not None, "a problem once stopped")
    finally:
        cluster.destroy()

    assert stopped.samples == 0
    assert stopped.value("members_count") is None
    assert "cannot reach" in str(stopped.problem) or "lost the connection" in str(stopped.problem)


def _settings(**changes: Any) -> dict[str, Any]:
    return {"url": "sqlite:///club.db", **FAST, "checks": [MEMBERS], **changes}


def test_the_catalogue_is_derived_from_the_checks(tmp_path: Path) -> None:
    checks = [
        MEMBERS,
        {"name": "orphans", "invariant": "SELECT 0"},
        {"name": "bookings", "freshness": "SELECT max(created_at) FROM bookings"},
    ]
    source = build_sql(_settings(checks=checks), tmp_path)

    assert source.provides.names() == [
        "bookings_age",
        "members_count",
        "members_drop",
        "orphans_violations",
    ]
    assert source.provides.label("members_drop") == "members drop"
    assert source.sample_interval == timedelta(milliseconds=100)
