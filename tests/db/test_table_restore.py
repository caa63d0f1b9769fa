"""`backout db restore-table`: the runbook's selective restore, through the real `backout` program
against real PostgreSQL — the pg_dump engine end to end, and pgBackRest to a point in time."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from backout.actions.backups import take_backup
from backout.db.backup import BackupError, VerifyReport
from backout.db.backup.pg_dump import PgDumpEngine
from backout.operations.database import list_backups
from backout.operations.table_restore import (
    TableRestoreRequest,
    plan_table_restore,
    restore_table,
)
from tests.cli.conftest import BACKOUT, Backout, Result, cli_environment, fake_service
from tests.db.backup.backup_support import Archiving, start_archiving
from tests.pg import find_bindir

pytestmark = pytest.mark.postgres

SCHEMA = """
CREATE TABLE members (id serial PRIMARY KEY, email text NOT NULL);
CREATE TABLE bookings (
    id serial PRIMARY KEY,
    member_id int NOT NULL REFERENCES members,
    court text NOT NULL,
    note text,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO members (email) SELECT 'm' || i || '@example.com' FROM generate_series(1, 5) i;
INSERT INTO bookings (member_id, court, note)
    SELECT 1 + i % 5, 'court ' || (i % 3), CASE WHEN i % 4 = 0 THEN NULL ELSE 'n' || i END
    FROM generate_series(1, 12) i;
"""
BOOKING_ROWS = "SELECT id, member_id, court, note, created_at FROM {} ORDER BY id"


@dataclass
class Shop:
    """The `backout` program over a config whose database `main` is a real one with members and
    twelve bookings (pg_dump backups), and `gone`, a database no server answers for."""

    backout: Backout
    conninfo: str

    def __call__(self, *args: str) -> Result:
        return self.backout(*args)

    def backup(self) -> str:
        """A backup of `main`, taken in-process (as `backout db backup main` takes it)."""
        with self.backout.runtime() as runtime:
            info, _ = take_backup(runtime, "main", kind=None, actor="ci")
        return info.id

    def backups(self) -> list[tuple[str, str | None]]:
        """(id, reason) of every backup of `main`, as `backout db backups main` lists them."""
        with self.backout.runtime() as runtime:
            return [(b["id"], b["reason"]) for b in list_backups(runtime, "main")]

    def verified(self, backup_id: str) -> bool | None:
        """The `verified` column `backout db backups main` shows for the backup."""
        with self.backout.runtime() as runtime:
            [backup] = [b for b in list_backups(runtime, "main") if b["id"] == backup_id]
            verified: bool | None = backup["verified"]
            return verified

    def restore_beside(self, table: str, backup_id: str, new_table: str) -> None:
        """A restore-table run in-process, to look into a backup."""
        request = TableRestoreRequest("main", table, backup_id=backup_id, new_table=new_table)
        with self.backout.runtime() as runtime:
            restore_table(runtime, plan_table_restore(runtime, request), actor="ci")

    def restore_table(self, *args: str) -> dict[str, Any]:
        result = self.backout("db", "restore-table", "main", *args, "--json")
        assert result.code == 0, result
        body: dict[str, Any] = result.json()
        return body

    def execute(self, statement: str) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            connection.execute(statement)

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.conninfo) as connection:
            return connection.execute(query).fetchall()

    def bookings(self, table: str = "bookings") -> list[tuple[Any, ...]]:
        return self.rows(BOOKING_ROWS.format(table))

    def tables(self) -> list[str]:
        listed = self.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        return [str(name) for (name,) in listed]

    def temporary_databases(self) -> list[str]:
        listed = self.rows("SELECT datname FROM pg_database WHERE datname LIKE 'backout_restore_%'")
        return [str(name) for (name,) in listed]


@pytest.fixture
def program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backout:
    for name in [k for k in os.environ if k.startswith("BACKOUT_")]:
        monkeypatch.delenv(name)
    assert BACKOUT.exists(), f"the console script {BACKOUT} is not installed (pip install -e .)"
    return Backout(tmp_path / "backout.yaml", cli_environment())


@pytest.fixture
def shop(program: Backout, postgres_url: str) -> Shop:
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    shop = Shop(program, conninfo)
    shop.execute(SCHEMA)
    write_config(
        program.config,
        main={"url": conninfo, "backup": {"type": "pg_dump", "repository": "backups"}},
        gone={"url": "postgresql://nobody@127.0.0.1:1/nothing"},
    )
    return shop


def write_config(path: Path, *, state_dir: str = ".backout", **databases: Any) -> None:
    data = {
        "project": "table-restore",
        "state": {"database": "sqlite:///.backout/state.db", "directory": state_dir},
        "services": {"api": fake_service()},
        "databases": databases,
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def damage(shop: Shop) -> list[tuple[Any, ...]]:
    """What a bad release does to the bookings: four deleted, one overwritten; the rows left."""
    shop.execute(
        "DELETE FROM bookings WHERE id > 8; UPDATE bookings SET note = 'oops' WHERE id = 1"
    )
    return shop.bookings()


def test_the_table_comes_back_beside_the_live_one_with_exactly_the_backed_up_rows(
    shop: Shop,
) -> None:
    backed_up = shop.bookings()
    backup_id = shop.backup()
    live = damage(shop)

    report = shop.restore_table("bookings", "--backup", backup_id)

    assert re.fullmatch(r"public\.bookings_restored_\d{14}", report["restored_table"]), report
    copy = report["restored_table"]
    assert shop.bookings(copy) == backed_up
    assert shop.bookings() == live, "the live table is untouched"
    assert report | {"restored_table": "", "duration_s": 0} == {
        "database": "main",
        "table": "public.bookings",
        "source": f"backup {backup_id}",
        "backup_id": backup_id,
        "engine": "pg_dump",
        "restored_table": "",
        "restored_rows": 12,
        "live_table": "public.bookings",
        "live_rows": 8,
        "replaced": False,
        "replaced_rows": None,
        "pre_replace_backup": None,
        "duration_s": 0,
    }
    assert shop.temporary_databases() == [], "the temporary database is dropped"


def test_as_names_the_copy_and_both_row_counts_are_printed(shop: Shop) -> None:
    backup_id = shop.backup()
    damage(shop)

    result = shop("db", "restore-table", "main", "bookings", "--backup", backup_id, "--as", "old")

    assert result.code == 0, result
    assert "restored copy: public.old: 12 row(s)" in result.stdout
    assert "live table:    public.bookings: 8 row(s)" in result.stdout
    assert shop.rows("SELECT count(*) FROM old") == [(12,)]


def test_the_copy_keeps_every_kind_of_value_and_the_columns_definitions(shop: Shop) -> None:
    shop.execute(
        "CREATE TYPE mood AS ENUM ('ok', 'cross');"
        "CREATE TABLE kinds (id int PRIMARY KEY, mood mood NOT NULL, doc jsonb, raw bytea,"
        " amount numeric(12, 2), ratio float8, at timestamptz, took interval, tags text[],"
        ' name text COLLATE "C", twice int GENERATED ALWAYS AS (id * 2) STORED);'
        "INSERT INTO kinds VALUES"
        " (1, 'ok', '{\"a\": [1, \"x\"]}', '\\x00ff', 12.50, 0.1, '2024-02-29 23:59:59.123456+05',"
        "  '1 day 02:03:04', ARRAY['tab\there', 'new\nline', 'back\\\\slash', NULL], 'Ünïcode'),"
        " (2, 'cross', NULL, NULL, NULL, 'NaN', NULL, NULL, '{}', NULL)"
    )
    before = shop.rows("SELECT k::text FROM kinds k ORDER BY id")
    backup_id = shop.backup()

    shop.restore_table("kinds", "--backup", backup_id, "--as", "kinds_copy")

    assert shop.rows("SELECT k::text FROM kinds_copy k ORDER BY id") == before
    definition = (
        "SELECT column_name, data_type, udt_name, is_nullable, collation_name"
        " FROM information_schema.columns WHERE table_name = '{}' ORDER BY ordinal_position"
    )
    assert shop.rows(definition.format("kinds_copy")) == shop.rows(definition.format("kinds"))


def test_built_in_types_come_back_exactly_and_user_types_inside_arrays_too(shop: Shop) -> None:
    """Built-in types travel in COPY's binary form; an enum's OID differs in the database the
    backup is restored into, so a table with one inside an array travels as text."""
    shop.execute(
        "CREATE TYPE mood AS ENUM ('ok', 'cross');"
        "CREATE TABLE plain (id bigint PRIMARY KEY, n numeric, at timestamptz, d date,"
        " raw bytea, doc jsonb, ints int[], words text[], ip inet, u uuid);"
        "INSERT INTO plain SELECT g, g / 7.0, '2024-01-01 00:00+00'::timestamptz + g * interval"
        " '1 minute', '2024-02-29', decode(md5(g::text), 'hex'), jsonb_build_object('g', g),"
        " ARRAY[g, NULL, -g], ARRAY['a,b', NULL, 'ü'], '10.0.0.1/8',"
        " md5(g::text)::uuid FROM generate_series(1, 3000) g;"
        "CREATE TABLE moods (id int PRIMARY KEY, moods mood[]);"
        "INSERT INTO moods VALUES (1, '{ok,cross}'), (2, NULL);"
    )
    plain = shop.rows("SELECT p::text FROM plain p ORDER BY id")
    moods = shop.rows("SELECT m::text FROM moods m ORDER BY id")
    backup_id = shop.backup()

    copied = shop.restore_table("plain", "--backup", backup_id, "--as", "plain_copy")
    shop.restore_table("moods", "--backup", backup_id, "--as", "moods_copy")

    assert copied["restored_rows"] == 3000
    assert shop.rows("SELECT p::text FROM plain_copy p ORDER BY id") == plain
    assert shop.rows("SELECT m::text FROM moods_copy m ORDER BY id") == moods


def test_a_dropped_table_comes_back_under_its_own_name(shop: Shop) -> None:
    backed_up = shop.bookings()
    backup_id = shop.backup()
    shop.execute("DROP TABLE bookings")

    report = shop.restore_table("bookings", "--backup", backup_id, "--as", "bookings")

    assert shop.bookings() == backed_up
    assert (report["restored_table"], report["live_table"]) == ("public.bookings", None)


def test_replace_puts_the_backed_up_rows_over_the_live_table_after_a_fresh_backup(
    shop: Shop,
) -> None:
    backed_up = shop.bookings()
    backup_id = shop.backup()
    damaged = damage(shop)

    report = shop.restore_table("bookings", "--backup", backup_id, "--replace", "--yes")

    assert shop.bookings() == backed_up
    assert (report["replaced"], report["replaced_rows"], report["restored_rows"]) == (True, 8, 12)
    assert (report["restored_table"], report["live_rows"]) == ("public.bookings", 12)
    pre_replace = report["pre_replace_backup"]
    assert shop.backups() == [(backup_id, None), (pre_replace["id"], "before restore-table")]
    assert shop.verified(pre_replace["id"]) is True, "checked before anything was replaced"
    assert Path(pre_replace["location"]).is_file()
    shop.restore_beside("bookings", pre_replace["id"], "before_replace")
    assert shop.bookings("before_replace") == damaged, "what was replaced is kept"


def test_replace_waits_for_a_confirmation_no_one_can_give_here(shop: Shop) -> None:
    backup_id = shop.backup()
    damaged = damage(shop)

    result = shop("db", "restore-table", "main", "bookings", "--backup", backup_id, "--replace")

    result.refused(9, "needs confirmation", "--yes")  # not confirmed, as every command
    assert shop.bookings() == damaged
    assert shop.backups() == [(backup_id, None)], "no backup was taken"


def test_replace_is_refused_for_a_table_other_tables_reference(shop: Shop) -> None:
    backup_id = shop.backup()
    shop.execute("UPDATE members SET email = 'changed'")

    result = shop(
        "db", "restore-table", "main", "members", "--backup", backup_id, "--replace", "-y"
    )

    result.refused(1, "foreign keys of other tables reference it", "public.bookings")
    assert shop.rows("SELECT DISTINCT email FROM members") == [("changed",)]
    assert shop.backups() == [(backup_id, None)], "no backup was taken"


def test_replace_refuses_a_live_table_whose_columns_have_changed(shop: Shop) -> None:
    backup_id = shop.backup()
    shop.execute("ALTER TABLE bookings ADD COLUMN paid boolean")
    damaged = damage(shop)

    result = shop(
        "db", "restore-table", "main", "bookings", "--backup", backup_id, "--replace", "-y"
    )

    result.refused(1, "columns of public.bookings differ", "live: paid boolean")
    assert shop.bookings() == damaged


def test_a_replace_whose_rows_no_longer_fit_leaves_the_live_table_as_it_was(shop: Shop) -> None:
    backup_id = shop.backup()
    shop.execute("DELETE FROM bookings WHERE member_id = 5; DELETE FROM members WHERE id = 5")
    live = shop.bookings()

    result = shop(
        "db", "restore-table", "main", "bookings", "--backup", backup_id, "--replace", "-y"
    )

    result.refused(1, "violates foreign key constraint", "the live data was not changed")
    assert shop.bookings() == live
    assert shop.temporary_databases() == []


def test_a_replace_whose_fresh_backup_fails_its_check_replaces_nothing(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup_id = shop.backup()
    damaged = damage(shop)
    real_verify = PgDumpEngine.verify

    def verify_a_truncated_dump(engine: PgDumpEngine, checked_id: str) -> VerifyReport:
        if checked_id != backup_id:  # the backup taken before replacing: the disk ate half
            [info] = [b for b in engine.backups() if b.id == checked_id]
            dump = Path(info.location)
            dump.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
        return real_verify(engine, checked_id)

    monkeypatch.setattr(PgDumpEngine, "verify", verify_a_truncated_dump)
    request = TableRestoreRequest("main", "bookings", backup_id=backup_id, replace=True)
    with shop.backout.runtime() as runtime, pytest.raises(BackupError) as refused:
        restore_table(runtime, plan_table_restore(runtime, request), actor="ci")

    assert "did not pass its check: size" in refused.value.message
    assert refused.value.hint is not None
    assert "nothing was replaced" in refused.value.hint
    assert shop.bookings() == damaged
    assert shop.temporary_databases() == []


def test_a_replace_never_expires_the_backup_it_reads_whatever_the_retention(shop: Shop) -> None:
    backup = {"type": "pg_dump", "repository": "backups", "keep": 1}
    write_config(shop.backout.config, main={"url": shop.conninfo, "backup": backup})
    backup_id = shop.backup()
    shop.execute("DELETE FROM bookings WHERE member_id = 5; DELETE FROM members WHERE id = 5")

    result = shop(
        "db", "restore-table", "main", "bookings", "--backup", backup_id, "--replace", "-y"
    )

    result.refused(1, "violates foreign key constraint")
    assert [backup for backup, _ in shop.backups()][:1] == [backup_id]
    shop.restore_beside("bookings", backup_id, "still_restorable")
    assert len(shop.bookings("still_restorable")) == 12


def test_a_copy_name_that_is_taken_is_refused_and_nothing_is_created(shop: Shop) -> None:
    backup_id = shop.backup()

    result = shop(
        "db", "restore-table", "main", "bookings", "--backup", backup_id, "--as", "members"
    )

    result.refused(1, "public.members already exists", "--as NEW_TABLE")
    assert shop.tables() == ["bookings", "members"]
    assert shop.temporary_databases() == []


def test_an_unknown_table_is_exit_4_listing_the_tables(shop: Shop) -> None:
    backup_id = shop.backup()

    result = shop("db", "restore-table", "main", "courts", "--backup", backup_id)

    result.refused(4, "'courts'", "public.bookings, public.members")
    assert shop.tables() == ["bookings", "members"]
    assert shop.temporary_databases() == []


def test_a_table_in_a_schema_the_database_lacks_is_unknown_not_a_copy_problem(
    shop: Shop,
) -> None:
    backup_id = shop.backup()

    mistyped = shop("db", "restore-table", "main", "pubic.bookings", "--backup", backup_id)
    mistyped.refused(4, "no table 'pubic.bookings', nor a schema 'pubic'", "public.bookings")

    elsewhere = ("--as", "archive.bookings_then")
    named = shop("db", "restore-table", "main", "bookings", "--backup", backup_id, *elsewhere)
    named.refused(1, "no schema 'archive' to put the copy in", "--as SCHEMA.NEW_TABLE")
    assert shop.tables() == ["bookings", "members"]
    assert shop.temporary_databases() == []


def test_an_unknown_backup_is_exit_4_listing_the_backups(shop: Shop) -> None:
    backup_id = shop.backup()

    result = shop("db", "restore-table", "main", "bookings", "--backup", "20000101-000000-000L")

    result.refused(4, "no backup '20000101-000000-000L'", backup_id)
    assert shop.temporary_databases() == []


def test_an_unknown_database_is_exit_4_listing_the_known_ones(shop: Shop) -> None:
    result = shop("db", "restore-table", "nope", "bookings", "--backup", "x")

    result.refused(4, "unknown database 'nope'", "gone, main")


def test_an_unreachable_database_is_exit_8(shop: Shop) -> None:
    result = shop("db", "restore-table", "gone", "bookings", "--backup", "x")

    result.refused(8, "database 'gone'", "is not reachable")


def test_a_logical_engine_refuses_a_point_in_time(shop: Shop) -> None:
    shop.backup()

    result = shop("db", "restore-table", "main", "bookings", "--to-time", "2030-01-01T00:00:00")

    result.refused(1, "restore only to the moment each was taken", "--backup")
    assert shop.tables() == ["bookings", "members"]


def test_a_source_is_required_and_as_does_not_go_with_replace(shop: Shop) -> None:
    shop("db", "restore-table", "main", "bookings").refused(2, "--backup")
    both = shop(
        "db", "restore-table", "main", "bookings", "--backup", "x", "--as", "y", "--replace"
    )
    both.refused(2, "--replace")


def psql_folder(folder: Path, psql: str | None) -> Path:
    """A bindir with the real pg_dump and pg_restore, and `psql` as given (None: no psql)."""
    real = find_bindir()
    assert real is not None
    folder.mkdir()
    for program in ("pg_dump", "pg_restore"):
        (folder / program).symlink_to(real / program)
    if psql is not None:
        (folder / "psql").write_text(psql.replace("REAL", str(real)))
        (folder / "psql").chmod(0o755)
    return folder


def use_bindir(shop: Shop, bindir: Path) -> None:
    backup = {"type": "pg_dump", "repository": "backups", "bindir": str(bindir)}
    write_config(shop.backout.config, main={"url": shop.conninfo, "backup": backup})


def test_a_reader_that_fails_midway_leaves_no_copy_even_where_the_rows_read_would_load(
    shop: Shop, tmp_path: Path
) -> None:
    """An enum column makes the rows travel as text, which COPY would load cut at any line:
    only psql's exit status says the rows are not all there."""
    shop.execute(
        "CREATE TYPE mood AS ENUM ('ok', 'cross'); CREATE TABLE moods (id int, mood mood);"
        "INSERT INTO moods SELECT g, 'ok' FROM generate_series(1, 100) g"
    )
    backup_id = shop.backup()
    cut_short = '#!/bin/sh\nREAL/psql "$@" | head -n 10\nexit 2\n'
    use_bindir(shop, psql_folder(tmp_path / "bin", cut_short))

    result = shop("db", "restore-table", "main", "moods", "--backup", backup_id, "--as", "copy")

    result.refused(1, "reading the rows from 'main' failed", "the live data was not changed")
    assert shop.tables() == ["bookings", "members", "moods"]
    assert shop.temporary_databases() == []


def test_without_psql_a_table_restore_is_unavailable_and_changes_nothing(
    shop: Shop, tmp_path: Path
) -> None:
    backup_id = shop.backup()
    use_bindir(shop, psql_folder(tmp_path / "bin", None))

    result = shop("db", "restore-table", "main", "bookings", "--backup", backup_id)

    result.refused(8, "psql is not installed here", "postgresql-client")
    assert shop.tables() == ["bookings", "members"]
    assert shop.temporary_databases() == []


# pgBackRest: a point in time, through a side cluster


@pytest.fixture(scope="module")
def archiving() -> Iterator[Archiving]:
    shared = start_archiving(retention_full=1)
    yield shared
    shared.destroy()


@pytest.fixture
def physical(archiving: Archiving, program: Backout) -> Backout:
    """`main` is the archiving cluster; backout's state folder is the one its engine was built
    with (where the archive_command's pgBackRest config lives), reachable by the cluster's user."""
    cluster = {
        "data_dir": str(archiving.pg.data_dir),
        "bindir": str(archiving.pg.bindir),
        "os_user": archiving.pg.owner,
    }
    backup = {
        "type": "pgbackrest",
        "repository": str(archiving.folder / "repo"),
        "stanza": archiving.engine.stanza,
        "archive_timeout": "60s",
        "retention_full": 1,
    }
    main = {"url": archiving.pg.conninfo(), "cluster": cluster, "backup": backup}
    write_config(program.config, state_dir=str(archiving.folder), main=main)
    return program


def test_a_table_comes_back_as_it_was_at_a_moment_through_a_side_cluster(
    archiving: Archiving, physical: Backout
) -> None:
    table = archiving.new_table()
    archiving.insert(table, 1)
    archiving.insert(table, 2)
    moment = archiving.now()
    archiving.insert(table, 3)
    archiving.archive_current_wal()

    result = physical(
        "db", "restore-table", "main", table, "--to-time", moment.isoformat(), "--json"
    )

    assert result.code == 0, result
    report = result.json()
    copy = report["restored_table"]
    assert archiving.scalar(f"SELECT array_agg(id ORDER BY id) FROM {copy}") == [1, 2]
    assert (report["restored_rows"], report["live_rows"]) == (2, 3)
    assert report["backup_id"] == archiving.engine.backups()[-1].id
    assert report["engine"] == "pgbackrest"
    leftovers = archiving.folder / "table-restores" / "main"
    assert not leftovers.exists() or not any(leftovers.iterdir()), "the side cluster is deleted"


def test_a_moment_before_the_first_backup_is_refused_by_the_engine(
    archiving: Archiving, physical: Backout
) -> None:
    table = archiving.new_table()
    archiving.insert(table, 1)

    result = physical(
        "db", "restore-table", "main", table, "--to-time", "2000-01-01T00:00:00+00:00"
    )

    result.refused(1, "before the first backup finished")
    assert archiving.scalar(f"SELECT count(*) FROM {table}") == 1


def test_a_replace_keeps_the_backup_and_wal_of_the_window_before_it(
    physical_own: tuple[Archiving, Backout],
) -> None:
    """The bug: the safety backup of a replace, with retention_full 1, expired the backup the
    replace read and its WAL, so the moments before the incident could no longer be restored."""
    [first] = physical_own[0].engine.backups()
    archiving, program = physical_own
    table = archiving.new_table()
    archiving.insert(table, 1)
    read = archiving.engine.backup("full")
    archiving.insert(table, 2)
    before_incident = archiving.now()
    archiving.insert(table, 3)
    archiving.archive_current_wal()

    replaced = program(
        "db", "restore-table", "main", table, "--backup", read.id, "--replace", "--yes", "--json"
    )

    assert replaced.code == 0, replaced
    assert archiving.scalar(f"SELECT array_agg(id ORDER BY id) FROM {table}") == [1]
    backups = [b.id for b in archiving.engine.backups()]
    assert backups[:2] == [first.id, read.id], "nothing expired"
    restored = program(
        "db", "restore-table", "main", table, "--to-time", before_incident.isoformat(), "--json"
    )
    assert restored.code == 0, restored
    copy = restored.json()["restored_table"]
    assert archiving.scalar(f"SELECT array_agg(id ORDER BY id) FROM {copy}") == [1, 2]


@pytest.fixture
def physical_own(program: Backout) -> Iterator[tuple[Archiving, Backout]]:
    """A cluster of its own (its backups are counted), retention_full 1, `main` in the config."""
    archiving = start_archiving(retention_full=1)
    backup = {
        "type": "pgbackrest",
        "repository": str(archiving.folder / "repo"),
        "stanza": archiving.engine.stanza,
        "archive_timeout": "60s",
        "retention_full": 1,
    }
    cluster = {
        "data_dir": str(archiving.pg.data_dir),
        "bindir": str(archiving.pg.bindir),
        "os_user": archiving.pg.owner,
    }
    main = {"url": archiving.pg.conninfo(), "cluster": cluster, "backup": backup}
    write_config(program.config, state_dir=str(archiving.folder), main=main)
    yield archiving, program
    archiving.destroy()
