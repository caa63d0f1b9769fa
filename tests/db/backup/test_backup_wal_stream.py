"""WAL streamed with the real pg_receivewal: what a synchronous receiver keeps when the primary
dies, and how a restore uses its partial segment."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backup_support import Archiving, apply_settings, rows

from backout.db.backup import RestoreTarget
from backout.db.cluster import SideCluster
from backout.db.connection import Database
from backout.db.wal_stream import (
    WalReach,
    WalStream,
    add_streamed_wal,
    quote_standby_name,
    segment_name,
    wal_reach,
)
from tests.pg import PostgresCluster

pytestmark = pytest.mark.postgres


@pytest.fixture
def streamed(own_archiving: Callable[..., Archiving]) -> Iterator[tuple[Archiving, WalStream]]:
    """A cluster of its own (the test stops it hard) with a synchronous receiver running."""
    archiving = own_archiving()
    stream = WalStream(
        archiving.database, archiving.folder / "stream", archiving.pg.bindir, synchronous=True
    )
    apply_settings(archiving.database, stream.required_settings())
    stream.start()
    yield archiving, stream
    stream.stop()


@pytest.fixture
def receiver(postgres_cluster: PostgresCluster, tmp_path: Path) -> Iterator[WalStream]:
    """An asynchronous receiver (not started) of the session's cluster, with a slot of its own."""
    name = f"backout_{uuid.uuid4().hex[:8]}"
    stream = WalStream(
        Database("main", postgres_cluster.conninfo()),
        tmp_path / "stream",
        postgres_cluster.bindir,
        slot=name,
        application_name=name,
    )
    yield stream
    stream.stop()
    stream.drop_slot()


def test_a_restore_with_the_streamed_wal_keeps_a_commit_the_archive_never_got(
    streamed: tuple[Archiving, WalStream], restore_dir: Path
) -> None:
    archiving, stream = streamed
    table = archiving.new_table()
    archiving.insert(table, 1)
    written = archiving.insert(table, 2)  # returns once the receiver has flushed it
    archiving.pg.run_as_owner(
        [archiving.pg.tool("pg_ctl"), "stop", "-m", "immediate", "-D", archiving.pg.data_dir]
    )
    stream.stop()

    archived_until = archiving.engine.newest_restorable()
    assert archived_until is not None
    assert archived_until < written, "the archive alone lost the last commit"
    received_until = stream.newest_received()
    assert received_until is not None
    assert received_until >= written
    archiving.engine.restore(RestoreTarget(), restore_dir, streamed_wal=stream.folder)

    with SideCluster.start(
        restore_dir, archiving.pg.bindir, archiving.pg.owner, timeout=60
    ) as side:
        assert rows(side.database(), table) == [1, 2]


def test_starting_a_running_receiver_again_changes_nothing_and_stop_ends_it(
    receiver: WalStream,
) -> None:
    receiver.start()
    pid = (receiver.folder / "pg_receivewal.pid").read_text().strip()

    receiver.start()

    assert (receiver.folder / "pg_receivewal.pid").read_text().strip() == pid
    receiver.stop()
    assert not receiver.running()
    assert not Path(f"/proc/{pid}").exists()
    receiver.stop()


def test_a_synchronous_receiver_is_named_in_synchronous_standby_names() -> None:
    database = Database("main", "host=127.0.0.1 dbname=postgres")
    receiver = WalStream(
        database, Path("/nonexistent"), Path("/usr/bin"), application_name="Backout WAL"
    )

    assert receiver.required_settings() == {"wal_level": "replica"}
    receiver.synchronous = True
    assert receiver.required_settings() == {
        "wal_level": "replica",
        "synchronous_standby_names": '"Backout WAL"',
        "synchronous_commit": "on",
    }
    assert quote_standby_name("backout_receivewal") == "backout_receivewal"


def test_streamed_segments_go_into_pg_wal_with_the_partial_one_renamed(tmp_path: Path) -> None:
    stream, data_dir = tmp_path / "stream", tmp_path / "data"
    (data_dir / "pg_wal").mkdir(parents=True)
    stream.mkdir()
    for name in (
        "000000010000000000000003",
        "000000010000000000000004",
        "000000010000000000000005.partial",
    ):
        (stream / name).write_bytes(name.encode())
    (stream / "00000002.history").write_text("1\t0/5000000\tno recovery target specified\n")

    written = add_streamed_wal(stream, data_dir, None, from_segment="000000010000000000000004")

    assert written == ["000000010000000000000004", "000000010000000000000005", "00000002.history"]
    assert (
        data_dir / "pg_wal" / "000000010000000000000005"
    ).read_bytes() == b"000000010000000000000005.partial"
    assert not (data_dir / "pg_wal" / "000000010000000000000003").exists()


def test_the_wal_reach_stops_at_the_first_hole_and_streamed_files_fill_the_tail(
    tmp_path: Path,
) -> None:
    floor = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    commit_at = {f"00000001000000000000000{n}": floor + timedelta(minutes=n) for n in range(2, 9)}

    def last_commit(segment: str | Path) -> datetime | None:
        return commit_at.get(
            segment if isinstance(segment, str) else segment.name.removesuffix(".partial")
        )

    archived = ["000000010000000000000002", "000000010000000000000003", "000000010000000000000005"]
    with_hole = wal_reach(
        "000000010000000000000002", archived, floor=floor, transaction_time=last_commit
    )
    assert with_hole == WalReach(floor + timedelta(minutes=3), "000000010000000000000004")

    streamed = [
        tmp_path / "000000010000000000000004",
        tmp_path / "000000010000000000000006.partial",
    ]
    filled = wal_reach(
        "000000010000000000000002",
        [*archived, *streamed],
        floor=floor,
        transaction_time=last_commit,
    )
    assert filled == WalReach(floor + timedelta(minutes=6), None)

    idle = wal_reach("000000010000000000000009", [], floor=floor, transaction_time=last_commit)
    assert idle == WalReach(floor, "000000010000000000000009")


def test_the_wal_reach_looks_past_a_long_bulk_load_for_the_last_commit() -> None:
    floor = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    last_commit_segment = "000000010000000000000002"
    # A COPY in one transaction fills twenty segments with no commit or abort in them.
    archived = [segment_name(1, n) for n in range(2, 23)]

    def last_commit(segment: str | Path) -> datetime | None:
        return floor + timedelta(seconds=7) if segment == last_commit_segment else None

    reach = wal_reach(archived[0], archived, floor=floor, transaction_time=last_commit)

    assert reach == WalReach(floor + timedelta(seconds=7), None)
