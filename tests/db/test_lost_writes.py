"""The lost-writes report: two databases of one real cluster stand for the states around a restore.

`before` is the live database; at the "restore point" `after` is created as a copy of it
(CREATE DATABASE ... TEMPLATE, an exact copy of that moment, as a point-in-time restore would
produce); what `before` receives afterwards is what the restore loses.
"""

from __future__ import annotations

import csv
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from backout.db import lost_writes as lost_writes_module
from backout.db.connection import Database
from backout.db.lost_writes import lost_writes
from backout.errors import NotFoundError, RefusedError, UnavailableError
from tests.pg import PostgresCluster

pytestmark = pytest.mark.postgres

CLUB = """
CREATE TABLE members (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE bookings (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id int NOT NULL REFERENCES members (id),
    court int NOT NULL,
    note text
);
CREATE TABLE page_views (path text, at timestamptz DEFAULT now());
INSERT INTO members (name) SELECT 'member ' || n FROM generate_series(1, 20) n;
INSERT INTO bookings (member_id, court, note) SELECT 1 + n % 20, n % 4, 'booking ' || n
    FROM generate_series(1, 2500) n;
INSERT INTO page_views (path) VALUES ('/'), ('/book');
"""


@pytest.fixture
def before(postgres_cluster: PostgresCluster) -> Iterator[Database]:
    name = postgres_cluster.create_database()
    yield Database("club", postgres_cluster.conninfo(name))
    postgres_cluster.drop_database(name)


@pytest.fixture
def restore(postgres_cluster: PostgresCluster, before: Database) -> Iterator[RestorePoint]:
    point = RestorePoint(postgres_cluster, before)
    yield point
    if point.after is not None:
        postgres_cluster.drop_database(point.after.dbname)


class RestorePoint:
    """`take()` copies `before` as it is now into a new database: the restored state."""

    def __init__(self, cluster: PostgresCluster, before: Database) -> None:
        self.cluster, self.before = cluster, before
        self.after: Database | None = None

    def take(self) -> Database:
        name = f"restored_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.cluster.conninfo(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(self.before.dbname)
                )
            )
        self.after = Database("club-restored", self.cluster.conninfo(name))
        return self.after


def run(database: Database, statements: str) -> None:
    with psycopg.connect(database.conninfo, autocommit=True) as conn:
        conn.execute(statements)


def rows(database: Database, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database.conninfo) as conn:
        return conn.execute(query).fetchall()


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def replay(cluster: PostgresCluster, database: Database, script: Path) -> None:
    """Run replay.sql the way a team would: psql, stopping at the first error."""
    subprocess.run(
        [
            cluster.tool("psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            database.conninfo,
            "-f",
            script,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_exactly_the_rows_written_after_the_restore_point_are_reported(
    before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()
    run(
        before,
        "INSERT INTO members (name) VALUES ('late member');"
        "INSERT INTO bookings (member_id, court, note) VALUES (21, 1, 'late 1'), (3, 2, 'late 2');"
        "DELETE FROM bookings WHERE id IN (5, 1200, 2400);",  # deleted later: a write too
    )

    report = lost_writes(before, after, out_dir=tmp_path / "lost")

    assert (report.inserted_rows, report.updated_rows, report.deleted_rows) == (3, 0, 3)
    assert report.path == tmp_path / "lost"
    by_table = {t.table: t for t in report.tables}
    assert (
        by_table["public.members"].inserted_rows,
        by_table["public.bookings"].inserted_rows,
    ) == (
        1,
        2,
    )
    assert csv_rows(report.path / "public.bookings.inserted.csv") == [
        ["id", "member_id", "court", "note"],
        ["2501", "21", "1", "late 1"],
        ["2502", "3", "2", "late 2"],
    ]
    assert csv_rows(report.path / "public.members.inserted.csv") == [
        ["id", "name"],
        ["21", "late member"],
    ]
    assert [row[0] for row in csv_rows(report.path / "public.bookings.deleted.csv")] == [
        "id",
        "5",
        "1200",
        "2400",
    ]
    summary = json.loads((report.path / "summary.json").read_text())
    assert (summary["total_rows"], summary["inserted_rows"], summary["deleted_rows"]) == (6, 3, 3)
    assert summary["tables"]["public.bookings"]["inserted_file"] == "public.bookings.inserted.csv"
    assert summary["tables"]["public.bookings"]["updated_file"] is None
    assert summary["tables"]["public.bookings"]["deleted_file"] == "public.bookings.deleted.csv"


@pytest.mark.parametrize("batch_rows", [7, 97, 5000])
def test_batch_boundaries_neither_hide_nor_invent_rows(
    before: Database,
    restore: RestorePoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch_rows: int,
) -> None:
    run(before, CLUB)
    after = restore.take()
    run(
        before,
        "DELETE FROM bookings WHERE id IN (1, 7, 8, 14, 2500);"  # the restored state keeps these
        "UPDATE bookings SET court = 9 WHERE id IN (2, 15, 2499);"
        "INSERT INTO bookings (member_id, court) SELECT 1, 0 FROM generate_series(1, 5);",
    )
    monkeypatch.setattr(lost_writes_module, "BATCH_ROWS", batch_rows)

    report = lost_writes(before, after, tables=["bookings"], out_dir=tmp_path / "lost")

    assert [row[0] for row in csv_rows(report.path / "public.bookings.inserted.csv")[1:]] == [
        "2501",
        "2502",
        "2503",
        "2504",
        "2505",
    ]
    assert [row[0] for row in csv_rows(report.path / "public.bookings.updated.csv")[1:]] == [
        "2",
        "15",
        "2499",
    ]


def test_nothing_is_reported_when_nothing_was_written_after_the_restore_point(
    before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()

    report = lost_writes(before, after, out_dir=tmp_path / "lost")

    assert report.total_rows == 0
    assert sorted(p.name for p in report.path.iterdir()) == ["replay.sql", "summary.json"]


def test_rows_changed_after_the_restore_point_are_reported_separately(
    before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()
    run(
        before,
        "UPDATE bookings SET note = 'moved' WHERE id IN (7, 1999); UPDATE members SET name = name WHERE id = 2",
    )

    report = lost_writes(before, after, out_dir=tmp_path / "lost")

    bookings = next(t for t in report.tables if t.table == "public.bookings")
    assert (bookings.inserted_rows, bookings.updated_rows) == (0, 2)
    assert report.total_rows == 2, "an update that left the row as it was is no change"
    assert csv_rows(report.path / "public.bookings.updated.csv")[1:] == [
        ["7", "8", "3", "moved"],
        ["1999", "20", "3", "moved"],
    ]
    assert "INSERT" not in (report.path / "replay.sql").read_text()


def test_a_table_without_a_primary_key_is_listed_as_not_compared(
    before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()
    run(before, "INSERT INTO page_views (path) VALUES ('/late')")

    report = lost_writes(before, after, out_dir=tmp_path / "lost")

    assert report.not_compared == {"public.page_views": "no primary key"}
    assert "  public.page_views: not compared (no primary key)" in report.lines()
    summary = json.loads((report.path / "summary.json").read_text())
    assert summary["not_compared"] == {"public.page_views": "no primary key"}


def test_only_the_configured_tables_are_compared(
    before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()
    run(
        before,
        "INSERT INTO members (name) VALUES ('late'); INSERT INTO bookings (member_id, court) VALUES (1, 1)",
    )

    report = lost_writes(before, after, tables=["bookings"], out_dir=tmp_path / "lost")

    assert [(t.table, t.inserted_rows) for t in report.tables] == [("public.bookings", 1)]
    assert report.not_compared == {}


def test_an_unknown_table_is_not_found(
    before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()

    with pytest.raises(NotFoundError, match="unknown table 'payments'"):
        lost_writes(before, after, tables=["payments"], out_dir=tmp_path / "lost")


def test_replay_sql_puts_the_lost_rows_back_in_foreign_key_order(
    postgres_cluster: PostgresCluster, before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()
    run(
        before,
        "INSERT INTO members (name) SELECT 'late ' || n FROM generate_series(1, 3) n;"
        "INSERT INTO bookings (member_id, court, note) SELECT 20 + n % 3 + 1, 0, NULL FROM generate_series(1, 1200) n;",
    )
    report = lost_writes(before, after, out_dir=tmp_path / "lost")
    assert report.total_rows == 1203

    replay(postgres_cluster, after, report.path / "replay.sql")

    for table in ("members", "bookings"):
        query = f"SELECT * FROM {table} ORDER BY id"
        assert rows(after, query) == rows(before, query)
    assert lost_writes(before, after, out_dir=tmp_path / "again").total_rows == 0
    run(after, "INSERT INTO members (name) VALUES ('first after replay')")  # the sequence moved on
    assert rows(after, "SELECT max(id) FROM members") == [(24,)]


SHOP = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (
    id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, total numeric NOT NULL
);
CREATE TABLE order_items (
    order_id int REFERENCES orders ON DELETE CASCADE, line int, sku text NOT NULL,
    PRIMARY KEY (order_id, line)
);
CREATE TABLE coupons (code text PRIMARY KEY, percent int NOT NULL);
INSERT INTO customers SELECT n, 'customer ' || n FROM generate_series(1, 5) n;
INSERT INTO orders SELECT n, 1 + n % 5, n * 10 FROM generate_series(1, 40) n;
INSERT INTO order_items SELECT o, l, 'sku-' || o || '-' || l
    FROM generate_series(1, 40) o, generate_series(1, 3) l;
INSERT INTO coupons VALUES ('SPRING', 10), ('SUMMER', 15);
"""

SHOP_AFTER_TARGET = """
INSERT INTO customers VALUES (6, 'customer 6');
INSERT INTO orders VALUES (41, 6, 99);
INSERT INTO order_items VALUES (41, 1, 'sku-41-1'), (41, 2, 'sku-41-2');
UPDATE orders SET total = 1 WHERE id = 7;
DELETE FROM orders WHERE id IN (3, 40);       -- and their items, by the cascade
DELETE FROM customers WHERE id = 5 AND NOT EXISTS (SELECT FROM orders WHERE customer_id = 5);
TRUNCATE coupons;
"""


@pytest.mark.parametrize("batch_rows", [4, 5000])
def test_deletes_cascades_and_truncates_are_reported_and_replayed_in_key_order(
    postgres_cluster: PostgresCluster,
    before: Database,
    restore: RestorePoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch_rows: int,
) -> None:
    run(before, SHOP)
    after = restore.take()
    run(before, SHOP_AFTER_TARGET)
    monkeypatch.setattr(lost_writes_module, "BATCH_ROWS", batch_rows)

    report = lost_writes(before, after, out_dir=tmp_path / "lost")

    counts = {t.table: (t.inserted_rows, t.updated_rows, t.deleted_rows) for t in report.tables}
    assert counts == {
        "public.customers": (1, 0, 0),
        "public.orders": (1, 1, 2),
        "public.order_items": (2, 0, 6),
        "public.coupons": (0, 0, 2),
    }
    assert csv_rows(report.path / "public.order_items.deleted.csv") == [
        ["order_id", "line", "sku"],
        *[[str(o), str(n), f"sku-{o}-{n}"] for o in (3, 40) for n in (1, 2, 3)],
    ]
    assert csv_rows(report.path / "public.coupons.deleted.csv")[1:] == [
        ["SPRING", "10"],
        ["SUMMER", "15"],
    ]
    summary = json.loads((report.path / "summary.json").read_text())
    assert (summary["inserted_rows"], summary["updated_rows"], summary["deleted_rows"]) == (
        4,
        1,
        10,
    )
    assert summary["tables"]["public.orders"]["deleted_rows"] == 2

    replay(postgres_cluster, after, report.path / "replay.sql")

    for table in ("customers", "orders", "order_items", "coupons"):
        query = f"SELECT * FROM {table} ORDER BY 1, 2"
        assert rows(after, query) == rows(before, query), table
    replay(postgres_cluster, after, report.path / "replay.sql")  # a second time changes nothing
    assert lost_writes(before, after, out_dir=tmp_path / "again").total_rows == 0


def test_a_table_dropped_after_the_target_is_named_with_its_rows(
    before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, SHOP)
    after = restore.take()
    run(before, "DROP TABLE coupons")

    report = lost_writes(before, after, out_dir=tmp_path / "lost")

    assert "2 row(s)" in report.not_compared["public.coupons"]
    assert "only in the restored database" in report.not_compared["public.coupons"]


def test_replaying_twice_or_over_newer_writes_skips_rows_that_exist(
    postgres_cluster: PostgresCluster, before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()
    run(before, "INSERT INTO members (name) VALUES ('late one'), ('late two')")
    report = lost_writes(before, after, out_dir=tmp_path / "lost")
    run(after, "INSERT INTO members (id, name) VALUES (21, 'written after the restore')")

    replay(postgres_cluster, after, report.path / "replay.sql")
    replay(postgres_cluster, after, report.path / "replay.sql")

    assert rows(after, "SELECT id, name FROM members WHERE id > 20 ORDER BY id") == [
        (21, "written after the restore"),
        (22, "late two"),
    ]


ODD = """
CREATE TABLE "Odd ""Table"" ü" (
    "région" text,
    "n°" int,
    "Spaced Col" text,
    "quo""te" text,
    tags text[],
    payload jsonb,
    blob bytea,
    at timestamptz,
    total numeric GENERATED ALWAYS AS (coalesce("n°", 0) * 2) STORED,
    PRIMARY KEY ("région", "n°")
);
INSERT INTO "Odd ""Table"" ü" ("région", "n°", "Spaced Col") VALUES ('nord', 1, 'old'), ('sud', 1, 'old');
"""

ODD_LATE = """
INSERT INTO "Odd ""Table"" ü" VALUES
    ('nord', 2, NULL, '', '{a,"b c"}', '{"k": [1, null]}', '\\x00ff', '2024-05-01 10:00+02'),
    ('nord', 10, 'line one
line two', 'say "hi", it''s \\ fine', '{}', 'null', '', NULL),
    ('été', 1, 'ünïcode ✓', NULL, NULL, NULL, NULL, NULL);
UPDATE "Odd ""Table"" ü" SET "quo""te" = NULL, "Spaced Col" = NULL WHERE "région" = 'sud';
"""


def test_composite_keys_nulls_and_odd_names_survive_export_and_replay(
    postgres_cluster: PostgresCluster,
    before: Database,
    restore: RestorePoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(before, ODD)
    after = restore.take()
    run(before, ODD_LATE)
    monkeypatch.setattr(lost_writes_module, "BATCH_ROWS", 2)  # composite keys as range bounds

    report = lost_writes(before, after, out_dir=tmp_path / "lost")

    [odd] = report.tables
    assert (odd.table, odd.inserted_rows, odd.updated_rows) == ('public.Odd "Table" ü', 3, 1)
    assert odd.inserted_file is not None
    assert odd.inserted_file.endswith(".inserted.csv")
    assert " " not in odd.inserted_file
    assert '"' not in odd.inserted_file
    columns = '"région", "n°", "Spaced Col", "quo""te", tags, payload, blob, at'
    late = f"""SELECT {columns} FROM "Odd ""Table"" ü" WHERE ("région", "n°") NOT IN (('nord', 1), ('sud', 1)) ORDER BY 1, 2"""
    with psycopg.connect(after.conninfo, autocommit=True) as conn:
        conn.execute("""CREATE TABLE loaded (LIKE "Odd ""Table"" ü" INCLUDING GENERATED)""")
        with conn.cursor().copy("COPY loaded FROM STDIN (FORMAT csv, HEADER MATCH)") as copy:
            copy.write((report.path / odd.inserted_file).read_bytes())
        loaded = conn.execute(f"SELECT {columns} FROM loaded ORDER BY 1, 2").fetchall()
    assert loaded == rows(before, late)
    assert loaded[0][2:4] == (None, ""), "NULL and the empty string stay apart"

    replay(postgres_cluster, after, report.path / "replay.sql")

    everything = f"""SELECT {columns} FROM "Odd ""Table"" ü" ORDER BY 1, 2"""
    assert rows(after, everything) == rows(before, everything), "inserted and updated rows"


def test_a_table_created_after_the_restore_point_is_lost_whole_and_not_replayed(
    postgres_cluster: PostgresCluster, before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()
    run(
        before,
        "CREATE TABLE coupons (code text PRIMARY KEY); INSERT INTO coupons VALUES ('A'), ('B')",
    )

    report = lost_writes(before, after, out_dir=tmp_path / "lost")

    coupons = next(t for t in report.tables if t.table == "public.coupons")
    assert (coupons.inserted_rows, coupons.columns_not_in_after) == (2, ("code",))
    replay(postgres_cluster, after, report.path / "replay.sql")  # runs: the table is left out


def test_a_column_the_restored_database_lacks_is_exported_but_not_replayed(
    postgres_cluster: PostgresCluster, before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()
    run(
        before,
        "ALTER TABLE members ADD COLUMN email text; INSERT INTO members (name, email) VALUES ('new', 'n@x')",
    )

    report = lost_writes(before, after, tables=["members"], out_dir=tmp_path / "lost")

    [members] = report.tables
    assert (members.inserted_rows, members.updated_rows, members.columns_not_in_after) == (
        1,
        0,
        ("email",),
    )
    assert csv_rows(report.path / "public.members.inserted.csv") == [
        ["id", "name", "email"],
        ["21", "new", "n@x"],
    ]
    replay(postgres_cluster, after, report.path / "replay.sql")
    assert rows(after, "SELECT id, name FROM members WHERE id = 21") == [(21, "new")]


def test_a_complete_report_is_never_overwritten(
    before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()
    lost_writes(before, after, out_dir=tmp_path / "lost")

    with pytest.raises(RefusedError, match="already exists"):
        lost_writes(before, after, out_dir=tmp_path / "lost")


def test_an_unreachable_restored_database_is_unavailable(
    postgres_cluster: PostgresCluster, before: Database, tmp_path: Path
) -> None:
    run(before, CLUB)
    missing = Database("club-restored", postgres_cluster.conninfo("no_such_database"))

    with pytest.raises(UnavailableError, match="database 'club-restored'"):
        lost_writes(before, missing, out_dir=tmp_path / "lost")
    assert not (tmp_path / "lost" / "summary.json").exists()


def test_a_table_whose_primary_key_changed_since_the_restore_point_is_not_compared(
    before: Database, restore: RestorePoint, tmp_path: Path
) -> None:
    run(before, CLUB)
    after = restore.take()
    run(before, "ALTER TABLE bookings DROP CONSTRAINT bookings_pkey, ADD PRIMARY KEY (id, court)")

    report = lost_writes(before, after, tables=["bookings"], out_dir=tmp_path / "lost")

    assert report.not_compared == {
        "public.bookings": "primary key (id, court) is (id) in the restored database"
    }
