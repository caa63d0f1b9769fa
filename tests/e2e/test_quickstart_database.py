"""`backout quickstart --scenario database`, as a user runs it: a real PostgreSQL cluster
archiving through pgBackRest, the demo app writing to it, a release that overwrites data, and
the schema revert, the in-place point-in-time restore and the lost-writes report after it."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from backout.db.cluster import os_user_for
from backout.db.local_cluster import LocalCluster, find_bindir
from backout.runtime import Runtime
from tests.pg_fixtures import MISSING_BINARIES, running_in_ci

BACKOUT = str(Path(sys.executable).parent / "backout")

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def story() -> Iterator[dict[str, Any]]:
    bindir = find_bindir()
    if bindir is None and not running_in_ci():
        pytest.skip(MISSING_BINARIES)
    assert bindir is not None, MISSING_BINARIES
    # Under the system's temp folder, as by default: the cluster's OS user must reach it.
    workspace = Path(tempfile.mkdtemp(prefix="backout-e2e-db-")) / "ws"
    workspace.parent.chmod(0o755)
    done = subprocess.run(
        [
            *(BACKOUT, "quickstart", "--scenario", "database", "--json", "--keep-running"),
            *("--workspace", str(workspace)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        assert done.returncode == 0, done.stderr + done.stdout
        yield json.loads(done.stdout)
    finally:
        _stop_everything(workspace, bindir)
        shutil.rmtree(workspace.parent, ignore_errors=True)


def _stop_everything(workspace: Path, bindir: Path) -> None:
    if (workspace / "backout.yaml").exists():
        runtime = Runtime.open(workspace / "backout.yaml")
        try:
            runtime.driver("backend").stop()
        finally:
            runtime.close()
    root = workspace / "postgres"
    LocalCluster(root, bindir, os_user_for(root / "data")).stop()


def live(story: dict[str, Any], dbname: str = "badminton") -> psycopg.Connection[Any]:
    config = Path(story["config"]).read_text()
    port = config.split("port=")[1].split()[0]
    return psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname={dbname}")


def report_rows(story: dict[str, Any], file_name: str) -> list[dict[str, str]]:
    path = Path(story["lost_writes_report"]) / file_name
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_data_is_restored_the_schema_reverted_and_integrity_holds(
    story: dict[str, Any],
) -> None:
    assert story["restored"] is True
    assert story["schema_reverted"] is True
    assert story["integrity_ok"] is True
    assert story["restore_s"] > 0
    assert isinstance(story["run_id"], int)
    assert Path(story["workspace"]).is_dir()


def test_the_rpo_achieved_is_within_the_one_minute_objective(story: dict[str, Any]) -> None:
    assert story["rpo_objective_s"] == 60
    assert story["rpo_s"] is not None
    assert 0 <= story["rpo_s"] <= story["rpo_objective_s"]


def test_the_lost_writes_report_is_exactly_the_writes_made_after_the_target(
    story: dict[str, Any],
) -> None:
    target = datetime.fromisoformat(story["restore_target"])
    kept = f"badminton_before_restore_run{story['run_id']}"
    with live(story, kept) as before:
        after_target = {
            str(row[0])
            for row in before.execute(
                "SELECT token_hash FROM tokens WHERE created_at > %s", (target,)
            )
        }
        bookings = {str(row[0]) for row in before.execute("SELECT id FROM bookings")}
    lost_tokens = {row["token_hash"] for row in report_rows(story, "public.tokens.inserted.csv")}
    overwritten = {row["id"] for row in report_rows(story, "public.bookings.updated.csv")}
    assert after_target, "the app wrote sign-ins after the target"
    assert lost_tokens == after_target
    assert overwritten == bookings, "the release overwrote every booking's time"
    summary = json.loads((Path(story["lost_writes_report"]) / "summary.json").read_text())
    assert summary["tables"]["public.tokens"]["inserted_rows"] == len(after_target)
    assert summary["tables"]["public.bookings"]["updated_rows"] == len(bookings)
    assert story["lost_writes_rows"] == summary["total_rows"]


def test_the_live_database_is_back_at_the_good_releases_revision_with_its_bookings(
    story: dict[str, Any],
) -> None:
    with live(story) as connection:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        made_after_start = connection.execute(
            "SELECT count(*) FROM bookings b JOIN court_sessions s ON s.id = b.session_id "
            "WHERE b.created_at >= s.starts_at"
        ).fetchone()
        columns = connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'court_sessions' AND column_name = 'waitlist_limit'"
        ).fetchall()
    assert revision == ("0001",)
    assert made_after_start == (0,)
    assert columns == []


def test_the_incident_records_the_rpo_and_the_restore_time(story: dict[str, Any]) -> None:
    done = subprocess.run(
        [BACKOUT, "incident", "show", str(story["incident_id"]), "--json"],
        capture_output=True,
        text=True,
        cwd=story["workspace"],
        timeout=60,
        check=True,
    )
    incident = json.loads(done.stdout)
    assert incident["rpo_s"] == story["rpo_s"]
    assert incident["rpo_objective_s"] == 60
    assert incident["restore_s"] == story["restore_s"]
    assert any(event["kind"] == "restore_measured" for event in incident["timeline"])
