"""The demo's Alembic migrations: 0001 (1.0.0), 0002 (1.1.0, with its faulty backfill), read
and reverted by backout's own Alembic adapter, and a rollback that serves a newer schema."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from demo_database import AppDatabase
from demo_support import RunningApp, stop

from backout.config import load_config
from backout.db.migrations import DataLoss, MigrationAdapter, migration_adapter_for
from backout.demo import HEALTH_PATH, MIGRATIONS_DIR, PROBE_PATH, SCHEMA_REVISIONS

GOOD_SETTINGS = {"BADMINTON_FAULT_RATE": "0", "BADMINTON_EXTRA_LATENCY_MS": "0"}
BOOKING_TIMES = (
    "SELECT b.id, b.created_at, s.starts_at FROM bookings b "
    "JOIN court_sessions s ON s.id = b.session_id ORDER BY b.id"
)


def run_release(
    start_app: Callable[..., RunningApp], version: str, database: AppDatabase
) -> RunningApp:
    """Start `version` on `database`, check it is healthy, and stop it again (a deploy)."""
    app = start_app(version, **database.env, **GOOD_SETTINGS)
    with app.client() as client:
        assert client.get(HEALTH_PATH).status_code == 200, app.log.read_text()
    stop(app.process)
    return app


def book_as_dev(app: RunningApp, session_id: int) -> None:
    with app.client() as client:
        token = client.post("/api/signin", json={"email": "dev@example.com"}).json()["token"]
        booking = client.post(
            "/api/bookings",
            json={"session_id": session_id},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert booking.status_code == 201


def adapter_for(checkout: Path, database: AppDatabase, folder: Path) -> MigrationAdapter:
    """backout's adapter for the demo database, built from a backout.yaml as a user writes it."""
    config = {
        "project": "badminton",
        "databases": {
            "app": {
                "url": database.url.replace("postgresql+psycopg://", "postgresql://", 1),
                "migrations": {
                    "type": "alembic",
                    "script_location": str(checkout / MIGRATIONS_DIR),
                    "ini": str(checkout / "alembic.ini"),
                },
            }
        },
    }
    (folder / "backout.yaml").write_text(yaml.safe_dump(config))
    return migration_adapter_for(load_config(folder / "backout.yaml"), "app")


def test_bad_release_migrates_0001_to_0002_and_overwrites_every_bookings_time(
    start_app: Callable[..., RunningApp], app_database: AppDatabase
) -> None:
    good = start_app("1.0.0", **app_database.env)
    book_as_dev(good, 2)
    stop(good.process)
    before = app_database.rows(BOOKING_TIMES)

    run_release(start_app, "1.1.0", app_database)
    after = app_database.rows(BOOKING_TIMES)

    assert app_database.revisions() == [SCHEMA_REVISIONS["1.1.0"]] == ["0002"]
    assert len(before) == 4
    assert not [row for row in before if row[1] == row[2]]
    assert [row[0] for row in after] == [row[0] for row in before]
    assert [row[1] for row in after] == [row[2] for row in after]  # created_at = starts_at
    assert [row[2] for row in after] == [row[2] for row in before]


def test_bad_release_adds_waitlist_limit_but_no_waitlist_table(
    start_app: Callable[..., RunningApp], app_database: AppDatabase
) -> None:
    run_release(start_app, "1.1.0", app_database)

    assert "waitlist_limit" in app_database.columns("court_sessions")
    assert app_database.rows("SELECT DISTINCT waitlist_limit FROM court_sessions") == [(3,)]
    assert "waitlist" not in app_database.tables()


def test_good_release_serves_a_database_the_bad_release_migrated(
    start_app: Callable[..., RunningApp], app_database: AppDatabase
) -> None:
    run_release(start_app, "1.1.0", app_database)

    app = start_app("1.0.0", **app_database.env)
    with app.client() as client:
        health = client.get(HEALTH_PATH)
        sessions = [client.get(PROBE_PATH).status_code for _ in range(5)]
        signin = client.post("/api/signin", json={"email": "bob@example.com"})
    book_as_dev(app, 3)

    assert health.json() == {"status": "ok", "version": "1.0.0", "database": "ok"}
    assert sessions == [200] * 5
    assert signin.status_code == 200
    assert app_database.revisions() == ["0002"]
    assert "revision 0002, which release 1.0.0 does not know" in app.log.read_text()
    assert app.process.poll() is None


def test_backouts_alembic_adapter_sees_0002_as_the_head_of_the_demo_database(
    start_app: Callable[..., RunningApp],
    checkout: Callable[[str], Path],
    postgres_database: AppDatabase,
    tmp_path: Path,
) -> None:
    run_release(start_app, "1.1.0", postgres_database)

    status = adapter_for(checkout("1.1.0"), postgres_database, tmp_path).status()

    assert status.head == "0002"
    assert [m.revision for m in status.applied] == ["0001", "0002"]
    assert status.pending == []


def test_reverting_to_0001_is_planned_as_losing_waitlist_limit_and_drops_it(
    start_app: Callable[..., RunningApp],
    checkout: Callable[[str], Path],
    postgres_database: AppDatabase,
    tmp_path: Path,
) -> None:
    run_release(start_app, "1.1.0", postgres_database)
    adapter = adapter_for(checkout("1.1.0"), postgres_database, tmp_path)

    plan = adapter.revert_plan(SCHEMA_REVISIONS["1.0.0"])
    adapter.revert(plan)

    assert [step.revision for step in plan.steps] == ["0002"]
    assert plan.losses() == [DataLoss("column", "court_sessions.waitlist_limit", 5)]
    assert plan.needs_approval
    assert "DROP COLUMN waitlist_limit" in plan.steps[0].sql
    assert postgres_database.revisions() == ["0001"]
    assert "waitlist_limit" not in postgres_database.columns("court_sessions")


def test_reverting_0002_leaves_the_overwritten_booking_times_as_they_are(
    start_app: Callable[..., RunningApp],
    checkout: Callable[[str], Path],
    postgres_database: AppDatabase,
    tmp_path: Path,
) -> None:
    run_release(start_app, "1.0.0", postgres_database)
    run_release(start_app, "1.1.0", postgres_database)
    adapter = adapter_for(checkout("1.1.0"), postgres_database, tmp_path)

    adapter.revert(adapter.revert_plan("0001"))

    # Only a point-in-time restore brings the times back: the downgrade cannot.
    assert [r[1] for r in postgres_database.rows(BOOKING_TIMES)] == [
        r[2] for r in postgres_database.rows(BOOKING_TIMES)
    ]


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
def test_alembic_upgrade_in_a_checkout_migrates_the_database_the_app_is_set_to(
    version: str, checkout: Callable[[str], Path], app_database: AppDatabase
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=checkout(version),
        env={"PATH": "/usr/bin:/bin", **app_database.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert app_database.revisions() == [SCHEMA_REVISIONS[version]]
    assert app_database.count("members") == 0  # seeding is the app's job, at its start
