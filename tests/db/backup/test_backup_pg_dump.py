"""The pg_dump engine against a real PostgreSQL: logical backups, their records, restores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from backup_support import build_engine, rows

from backout.config import parse_config
from backout.db.backup import (
    BACKUP_ENGINES,
    LogicalBackupEngine,
    PhysicalBackupEngine,
    RestoreTarget,
    RestoreTargetError,
    UnknownBackupError,
    backup_engine_for,
)
from backout.db.backup.pg_dump import PgDumpEngine, count_rows
from backout.db.connection import Database
from backout.errors import ConfigError, NotFoundError, UnavailableError
from tests.pg import PostgresCluster

pytestmark = pytest.mark.postgres


@pytest.fixture
def source(postgres_cluster: PostgresCluster) -> Iterator[Database]:
    """A database with two tables in public and one in another schema, with rows."""
    name = postgres_cluster.create_database()
    database = Database("shop", postgres_cluster.conninfo(name))
    with database.connect(autocommit=True) as connection:
        connection.execute("CREATE TABLE members (id int PRIMARY KEY, name text NOT NULL)")
        connection.execute(
            "INSERT INTO members SELECT g, 'member ' || g FROM generate_series(1, 40) g"
        )
        connection.execute(
            "CREATE TABLE bookings (id serial PRIMARY KEY, member int REFERENCES members)"
        )
        connection.execute(
            "INSERT INTO bookings (member) SELECT g % 40 + 1 FROM generate_series(1, 75) g"
        )
        connection.execute("CREATE SCHEMA audit")
        connection.execute("CREATE TABLE audit.events (id int, what text)")
        connection.execute("INSERT INTO audit.events VALUES (1, 'created'), (2, 'paid')")
    yield database
    postgres_cluster.drop_database(name)


@pytest.fixture
def empty_database(postgres_cluster: PostgresCluster) -> Iterator[Database]:
    name = postgres_cluster.create_database()
    yield Database("restored", postgres_cluster.conninfo(name))
    postgres_cluster.drop_database(name)


@pytest.fixture
def engine(source: Database, tmp_path: Path) -> PgDumpEngine:
    built = build_engine(
        {"type": "pg_dump", "repository": "dumps", "keep": 2},
        url=source.conninfo,
        state_dir=tmp_path,
    )
    assert isinstance(built, PgDumpEngine)
    return built


def counts(database: Database) -> dict[str, int]:
    with database.connect() as connection:
        return count_rows(connection)


def test_a_logical_backup_restores_every_row_and_records_the_counts_it_holds(
    engine: PgDumpEngine, source: Database, empty_database: Database
) -> None:
    backup = engine.backup()

    assert backup.kind == "logical"
    assert Path(backup.location).is_file()
    assert backup.size_bytes == Path(backup.location).stat().st_size
    assert backup.started_at <= backup.finished_at <= datetime.now(UTC)
    assert engine.row_counts(backup.id) == {
        "audit.events": 2,
        "public.bookings": 75,
        "public.members": 40,
    }
    engine.restore_database(RestoreTarget(backup_id=backup.id), empty_database)
    assert counts(empty_database) == engine.row_counts(backup.id)
    assert rows(empty_database, "members") == rows(source, "members")


def test_backups_are_listed_oldest_first_and_the_newest_is_what_a_restore_takes(
    engine: PgDumpEngine, source: Database, empty_database: Database
) -> None:
    first = engine.backup()
    with source.connect(autocommit=True) as connection:
        connection.execute("DELETE FROM bookings WHERE id > 5")
    second = engine.backup()

    assert [b.id for b in engine.backups()] == [first.id, second.id]
    assert engine.newest_restorable() == second.started_at
    engine.restore_database(RestoreTarget(), empty_database)
    assert counts(empty_database)["public.bookings"] == 5


def test_a_restore_of_some_tables_brings_back_only_those(
    engine: PgDumpEngine, empty_database: Database
) -> None:
    backup = engine.backup()

    engine.restore_database(
        RestoreTarget(backup_id=backup.id), empty_database, tables=["members", "audit.events"]
    )

    assert counts(empty_database) == {"audit.events": 2, "public.members": 40}


def test_an_unknown_table_is_refused_naming_the_tables_the_backup_holds(
    engine: PgDumpEngine, empty_database: Database
) -> None:
    backup = engine.backup()

    with pytest.raises(NotFoundError, match="'players' is not in the backup") as refused:
        engine.restore_database(
            RestoreTarget(backup_id=backup.id), empty_database, tables=["players"]
        )

    assert "public.members" in str(refused.value)
    assert counts(empty_database) == {}


def test_a_logical_backup_cannot_be_restored_to_a_moment_in_time(
    engine: PgDumpEngine, empty_database: Database
) -> None:
    engine.backup()

    with pytest.raises(RestoreTargetError, match="restore only to the moment they were taken"):
        engine.restore_database(RestoreTarget(time=datetime.now(UTC)), empty_database)
    with pytest.raises(RestoreTargetError):
        engine.restore_database(RestoreTarget(restore_point="before-release"), empty_database)


def test_an_unknown_backup_id_is_refused_naming_the_known_ones(
    engine: PgDumpEngine, empty_database: Database
) -> None:
    backup = engine.backup()

    with pytest.raises(UnknownBackupError, match=backup.id):
        engine.restore_database(RestoreTarget(backup_id="20000101-000000-000L"), empty_database)


def test_verify_passes_a_sound_dump_and_catches_one_changed_since(engine: PgDumpEngine) -> None:
    backup = engine.backup()

    sound = engine.verify(backup.id)
    assert sound.ok, sound.problems
    assert engine.backups()[0].verified is True

    dump = Path(backup.location)
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    damaged = engine.verify(backup.id)
    assert not damaged.ok
    assert any("checksum" in problem for problem in damaged.problems)
    assert engine.backups()[0].verified is False


def test_expire_keeps_the_newest_backups_as_configured(engine: PgDumpEngine) -> None:
    made = [engine.backup().id for _ in range(3)]
    long_after = datetime.now(UTC) + timedelta(days=30)  # the whole default window is past

    assert engine.expire(now=long_after, dry_run=True) == made[:1]
    assert [b.id for b in engine.backups()] == made, "a dry run deletes nothing"
    assert engine.expire(now=long_after) == made[:1]
    assert [b.id for b in engine.backups()] == made[1:]
    assert sorted(p.name for p in engine.repository.iterdir()) == sorted(
        f"{backup_id}.{ext}" for backup_id in made[1:] for ext in ("dump", "json")
    )
    assert engine.expire(now=long_after) == []


def test_expire_keeps_every_backup_a_restore_inside_the_recovery_window_needs(
    engine: PgDumpEngine,
) -> None:
    made = [engine.backup() for _ in range(4)]
    window = timedelta(days=7)  # the default

    assert engine.expire() == [], "all four were taken inside the window: keep: 2 is a floor"
    # The window opens just after the second backup: a restore to that moment reads it.
    assert engine.expire(now=made[1].started_at + window + timedelta(microseconds=1)) == [
        made[0].id
    ]
    assert [b.id for b in engine.backups()] == [b.id for b in made[1:]]
    assert engine.expire(now=made[1].finished_at + window, keep=[made[1].id]) == []


def test_a_backup_of_an_unreachable_database_fails_and_leaves_no_record(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    gone = postgres_cluster.conninfo("no_such_database")
    engine = build_engine({"type": "pg_dump", "repository": "dumps"}, url=gone, state_dir=tmp_path)

    with pytest.raises(UnavailableError, match="not reachable"):
        engine.backup()

    assert engine.backups() == []
    assert list((tmp_path / "dumps").iterdir()) == []


def test_the_record_beside_a_dump_is_json_with_its_checksum_and_counts(
    engine: PgDumpEngine,
) -> None:
    backup = engine.backup()

    record = json.loads((engine.repository / f"{backup.id}.json").read_text())

    assert record["id"] == backup.id
    assert len(record["sha256"]) == 64
    assert record["row_counts"]["public.members"] == 40


def test_the_engine_is_picked_by_the_config_and_defaults_to_pg_dump(tmp_path: Path) -> None:
    config = parse_config(
        {"project": "shop", "databases": {"main": {"url": "host=127.0.0.1 dbname=shop"}}},
        tmp_path / "backout.yaml",
    )

    engine = backup_engine_for(config, "main")

    assert isinstance(engine, PgDumpEngine)
    assert isinstance(engine, LogicalBackupEngine)
    assert not isinstance(engine, PhysicalBackupEngine)
    assert engine.repository == tmp_path / ".backout" / "backups" / "main"
    assert BACKUP_ENGINES.names() == ["pg_dump", "pgbackrest"]


def test_the_pgbackrest_engine_needs_the_cluster_section(tmp_path: Path) -> None:
    config = parse_config(
        {
            "project": "shop",
            "databases": {
                "main": {"url": "dbname=shop", "backup": {"type": "pgbackrest", "repository": "r"}}
            },
        },
        tmp_path / "backout.yaml",
    )

    with pytest.raises(ConfigError, match=r"databases\.main\.cluster: required"):
        backup_engine_for(config, "main")


def test_count_rows_reads_in_the_callers_snapshot(source: Database) -> None:
    with source.connect() as reader:
        reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        before = count_rows(reader)
        with source.connect(autocommit=True) as writer:
            writer.execute("INSERT INTO members VALUES (1000, 'late')")
        assert count_rows(reader) == before
    assert counts(source)["public.members"] == before["public.members"] + 1
