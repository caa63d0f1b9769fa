"""The pgbackrest engine against real clusters archiving through the real pgBackRest:
backups, verification, retention, and point-in-time restores started as side clusters."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from backup_support import Archiving, rows

from backout.db.backup import BackupError, PhysicalBackupEngine, RestoreTarget, RestoreTargetError
from backout.db.cluster import SideCluster

pytestmark = pytest.mark.postgres


def side_cluster(archiving: Archiving, data_dir: Path) -> SideCluster:
    return SideCluster.start(data_dir, archiving.pg.bindir, archiving.pg.owner, timeout=60)


def test_a_full_backup_is_listed_with_its_wal_range_and_size(archiving: Archiving) -> None:
    first = archiving.engine.backups()[0]

    assert isinstance(archiving.engine, PhysicalBackupEngine)
    assert first.kind == "full"
    assert first.size_bytes is not None
    assert first.size_bytes > 0
    assert first.started_at <= first.finished_at <= datetime.now(UTC)
    assert first.wal_start is not None
    assert first.wal_stop is not None
    assert first.wal_start <= first.wal_stop
    assert archiving.engine.stanza in first.location


def test_required_settings_archive_through_backouts_own_pgbackrest_config(
    archiving: Archiving,
) -> None:
    settings = archiving.engine.required_settings()

    config = archiving.engine.config_file
    assert config.is_relative_to(archiving.folder)
    assert settings["archive_command"].endswith(f"--config={config} --stanza=main archive-push %p")
    assert settings | {"archive_command": ""} == {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_timeout": "60s",
        "archive_command": "",
    }
    assert "repo1-path=" in config.read_text()


def test_a_restore_to_a_time_brings_back_exactly_the_rows_committed_before_it(
    archiving: Archiving, restore_dir: Path
) -> None:
    table = archiving.new_table()
    archiving.insert(table, 1)
    archiving.insert(table, 2)
    target = archiving.now()
    archiving.insert(table, 3)
    archiving.archive_current_wal()

    archiving.engine.restore(RestoreTarget(time=target), restore_dir)

    with side_cluster(archiving, restore_dir) as side:
        assert rows(side.database(), table) == [1, 2]
    assert rows(archiving.database, table) == [1, 2, 3], "the live cluster is untouched"


def test_a_restore_to_a_named_restore_point_stops_there(
    archiving: Archiving, restore_dir: Path
) -> None:
    table = archiving.new_table()
    archiving.insert(table, 1)
    archiving.execute("SELECT pg_create_restore_point(%s)", f"before-{table}")
    archiving.insert(table, 2)
    archiving.archive_current_wal()

    archiving.engine.restore(RestoreTarget(restore_point=f"before-{table}"), restore_dir)

    with side_cluster(archiving, restore_dir) as side:
        assert rows(side.database(), table) == [1]


def test_a_time_before_the_first_backup_is_refused_before_anything_is_restored(
    archiving: Archiving, restore_dir: Path
) -> None:
    first = archiving.engine.backups()[0]

    with pytest.raises(RestoreTargetError, match="before the first backup finished"):
        archiving.engine.restore(
            RestoreTarget(time=first.started_at - timedelta(minutes=5)), restore_dir
        )

    assert not restore_dir.exists()


def test_a_time_past_the_newest_archived_commit_is_refused(
    archiving: Archiving, restore_dir: Path
) -> None:
    with pytest.raises(RestoreTargetError, match="the archived WAL ends with the commit of"):
        archiving.engine.restore(
            RestoreTarget(time=datetime.now(UTC) + timedelta(hours=1)), restore_dir
        )


def test_the_newest_restorable_moment_is_the_last_archived_commit(archiving: Archiving) -> None:
    table = archiving.new_table()
    written = archiving.insert(table, 1)
    committed = archiving.now()
    archiving.archive_current_wal()

    newest = archiving.engine.newest_restorable()

    assert newest is not None
    assert written <= newest <= committed


def test_a_restore_to_the_newest_restorable_moment_keeps_the_last_archived_commit(
    archiving: Archiving, restore_dir: Path
) -> None:
    table = archiving.new_table()
    archiving.insert(table, 1)
    archiving.archive_current_wal()
    newest = archiving.engine.newest_restorable()
    assert newest is not None

    archiving.engine.restore(RestoreTarget(time=newest), restore_dir)

    with side_cluster(archiving, restore_dir) as side:
        assert rows(side.database(), table) == [1]


def test_verify_finds_a_sound_backup_sound_and_says_so_in_the_listing(archiving: Archiving) -> None:
    newest = archiving.engine.backups()[-1]

    report = archiving.engine.verify(newest.id)

    assert report.ok, report.problems
    assert any("pgbackrest verify" in what for what in report.checked)
    assert archiving.engine.backups()[-1].verified is True


def test_a_side_cluster_whose_target_is_never_reached_fails_with_the_servers_reason(
    archiving: Archiving, restore_dir: Path
) -> None:
    archiving.engine.restore(RestoreTarget(restore_point="never-created"), restore_dir)

    with pytest.raises(
        BackupError, match="recovery ended before configured recovery target was reached"
    ):
        side_cluster(archiving, restore_dir)

    assert not (restore_dir / "postmaster.pid").exists()


def test_a_missing_wal_segment_is_named_and_nothing_is_restored(
    archiving: Archiving, restore_dir: Path
) -> None:
    table = archiving.new_table()
    archiving.insert(table, 1)
    archiving.archive_current_wal()
    archiving.insert(table, 2)
    lost = archiving.archive_current_wal()
    archiving.insert(table, 3)
    target = archiving.now()
    archiving.insert(table, 4)
    archiving.archive_current_wal()
    [segment] = (archiving.folder / "repo" / "archive").glob(f"main/*/*/{lost}-*")
    segment.unlink()
    try:
        with pytest.raises(BackupError, match=f"WAL segment {lost} is missing"):
            archiving.engine.restore(RestoreTarget(time=target), restore_dir)

        assert not restore_dir.exists()
        newest = archiving.engine.newest_restorable()
        assert newest is not None
        assert newest < target
        report = archiving.engine.verify(archiving.engine.backups()[-1].id)
        assert not report.ok
        assert any(lost in problem for problem in report.problems)
    finally:
        archiving.engine.backup("full")  # the module's other tests restore from after the hole


def test_expire_keeps_every_backup_and_wal_segment_the_recovery_window_needs(
    own_archiving: Callable[..., Archiving], restore_dir: Path
) -> None:
    archiving = own_archiving(retention_full=1, recovery_window="1h")
    engine = archiving.engine
    [first] = engine.backups()
    second = engine.backup("full")
    table = archiving.new_table()
    archiving.insert(table, 1)
    moment = archiving.now()  # between the second backup and the third
    archiving.insert(table, 2)
    third = engine.backup("incr")

    assert engine.expire() == [], "all three are inside the hour: retention_full 1 is a floor"
    # The window opens as the incremental one ends: it needs the second, its full backup.
    assert engine.expire(now=third.finished_at + timedelta(hours=1), dry_run=True) == [first.id]
    assert [b.id for b in engine.backups()] == [first.id, second.id, third.id]
    assert engine.expire(now=third.finished_at + timedelta(hours=1)) == [first.id]
    assert [b.id for b in engine.backups()] == [second.id, third.id]
    archived = sorted(engine._archived_segments())
    assert second.wal_start is not None
    assert archived[0][8:] <= second.wal_start[8:], "the WAL from the second backup on is kept"

    engine.restore(RestoreTarget(time=moment), restore_dir)
    with side_cluster(archiving, restore_dir) as side:
        assert rows(side.database(), table) == [1]


def test_pgbackrest_runs_as_the_clusters_owner(archiving: Archiving) -> None:
    owner = archiving.pg.owner
    if owner is None:
        pytest.skip("the tests run as the cluster's owner: nobody to switch to")
    repository = archiving.folder / "repo"

    owners = {p.stat().st_uid for p in [repository, *repository.rglob("*")]}

    assert owners == {os.stat(archiving.pg.data_dir).st_uid}
