"""`backout db setup|backup|backups|verify` against a real PostgreSQL database (pg_dump engine)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml

from tests.cli.conftest import Backout, cli_environment, fake_service

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(backout: Backout, postgres_url: str, tmp_path: Path) -> Backout:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE members (id serial PRIMARY KEY, email text NOT NULL);"
            "CREATE TABLE bookings (id serial PRIMARY KEY, member_id int REFERENCES members,"
            " created_at timestamptz NOT NULL DEFAULT now());"
            "INSERT INTO members (email) SELECT 'm' || i || '@example.com' FROM generate_series(1, 5) i;"
            "INSERT INTO bookings (member_id) SELECT 1 + i % 5 FROM generate_series(1, 12) i;"
        )
    data = {
        "project": "db-cli",
        "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
        "services": {"api": fake_service()},
        "databases": {
            "main": {
                "url": conninfo,
                "backup": {"type": "pg_dump", "repository": "backups/main"},
                "integrity": {
                    "assertions": [
                        {
                            "name": "every booking has a member",
                            "sql": "SELECT bool_and(member_id IS NOT NULL) FROM bookings",
                        }
                    ],
                    "recent": {"bookings": "created_at"},
                },
            },
            "gone": {"url": "postgresql://nobody@127.0.0.1:1/nothing"},
        },
    }
    backout.config.write_text(yaml.safe_dump(data))
    backout.env = cli_environment()
    return backout


def test_a_backup_is_taken_listed_and_counted(db: Backout, tmp_path: Path) -> None:
    taken = db("db", "backup", "main", "--json")
    assert taken.code == 0, taken
    backup = taken.json()
    assert backup["kind"] == "logical"
    assert backup["row_counts"] == {"public.members": 5, "public.bookings": 12}
    assert Path(backup["location"]).is_file()
    assert str(tmp_path / "backups" / "main") in backup["location"]
    [listed] = db("db", "backups", "main", "--json").json()
    assert listed["id"] == backup["id"]
    assert listed["taken_by"] == "alice@test"
    assert listed["row_counts"] == backup["row_counts"]


def test_verify_compares_with_the_newest_backup_and_passes(db: Backout) -> None:
    db.ok("db", "backup", "main")
    report = db("db", "verify", "main", "--json")
    assert report.code == 0, report
    body = report.json()
    assert body["ok"] is True
    assert body["reference_backup"] is not None


def test_verify_exits_1_naming_a_failing_assertion(db: Backout, postgres_url: str) -> None:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("INSERT INTO bookings (member_id) VALUES (NULL)")
    report = db("db", "verify", "main")
    assert report.code == 1, report
    assert "every booking has a member" in report.stdout


def test_pg_dump_needs_no_server_settings(db: Backout) -> None:
    assert db("db", "setup", "main", "--json").json() == []


def test_an_unknown_database_lists_the_known_ones(db: Backout) -> None:
    db("db", "backup", "nope").refused(4, "unknown database 'nope'", "gone, main")


def test_an_unreachable_database_is_a_message_and_exit_8(db: Backout) -> None:
    db("db", "verify", "gone").refused(8, "database 'gone'", "is not reachable")
