"""What a table restore asks of pgBackRest and of its side cluster, against the real ones: only
the live database's files restored (--db-include), and a throwaway side cluster."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from backup_support import Archiving, rows

from backout.db.backup import RestoreTarget
from backout.db.cluster import SideCluster, server_settings
from backout.db.connection import Database
from backout.errors import UnavailableError

pytestmark = pytest.mark.postgres
THROWAWAY = {"fsync": "off", "full_page_writes": "off", "autovacuum": "off", "archive_mode": "off"}


@pytest.fixture(scope="module")
def two_shops(archiving: Archiving) -> Archiving:
    """Databases `shop` and `other` (a table `orders` each, rows 1 and 2), in a newer backup."""
    for name in ("shop", "other"):
        archiving.pg.create_database(name)
        with psycopg.connect(archiving.pg.conninfo(name), autocommit=True) as connection:
            connection.execute("CREATE TABLE orders (id int PRIMARY KEY)")
            connection.execute("INSERT INTO orders VALUES (1), (2)")
    archiving.engine.backup("full")
    return archiving


def side(archiving: Archiving, data_dir: Path) -> SideCluster:
    pg = archiving.pg
    return SideCluster.start(data_dir, pg.bindir, pg.owner, timeout=60, throwaway=True)


def database(archiving: Archiving, name: str) -> Database:
    return Database(name, archiving.pg.conninfo(name))


def test_only_the_named_database_is_restored_and_it_holds_exactly_the_moments_rows(
    two_shops: Archiving, restore_dir: Path
) -> None:
    shop = database(two_shops, "shop")
    with shop.connect(autocommit=True) as connection:
        connection.execute("INSERT INTO orders VALUES (3)")
        moment = connection.execute("SELECT clock_timestamp()").fetchone()
        connection.execute("INSERT INTO orders VALUES (4)")
    two_shops.archive_current_wal()
    assert moment is not None

    two_shops.engine.restore(RestoreTarget(time=moment[0]), restore_dir, only_database="shop")

    with side(two_shops, restore_dir) as restored:
        assert rows(restored.database("shop"), "orders") == [1, 2, 3]
        with pytest.raises(UnavailableError, match="relation mapping file"):  # left empty
            rows(restored.database("other"), "orders")
    assert rows(shop, "orders") == [1, 2, 3, 4], "the live database is untouched"


def test_a_database_created_after_the_backup_comes_back_with_the_whole_cluster(
    two_shops: Archiving, restore_dir: Path
) -> None:
    """pgBackRest cannot select a database its backup lacks: the WAL replayed creates it."""
    two_shops.pg.create_database("late")
    late = database(two_shops, "late")
    with late.connect(autocommit=True) as connection:
        connection.execute("CREATE TABLE orders AS SELECT 7 AS id")
    two_shops.archive_current_wal()

    two_shops.engine.restore(RestoreTarget(), restore_dir, only_database="late")

    with side(two_shops, restore_dir) as restored:
        assert rows(restored.database("late"), "orders") == [7]
        assert rows(restored.database("other"), "orders") == [1, 2]


def test_the_system_database_is_restored_with_the_whole_cluster(
    two_shops: Archiving, restore_dir: Path
) -> None:
    table = two_shops.new_table()
    two_shops.insert(table, 1)
    two_shops.archive_current_wal()

    two_shops.engine.restore(RestoreTarget(), restore_dir, only_database="postgres")

    with side(two_shops, restore_dir) as restored:
        assert rows(restored.database(), table) == [1]
        assert rows(restored.database("other"), "orders") == [1, 2]


def test_a_throwaway_side_cluster_never_fsyncs_and_is_stopped_at_once(
    archiving: Archiving, restore_dir: Path
) -> None:
    archiving.engine.restore(RestoreTarget(), restore_dir)

    restored = side(archiving, restore_dir)
    try:
        found = server_settings(restored.database(), list(THROWAWAY))
    finally:
        restored.stop()

    assert found == THROWAWAY
    assert not restored.running()
