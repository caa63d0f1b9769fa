"""Data checks through the watch loop: rows deleted under a live release make a count's drop
breach its rule; a data incident waits for a person though the service's policy is rollback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from backout.clock import ManualClock
from backout.controller.watch import Watcher
from backout.errors import ConfigError
from backout.operations import views
from backout.operations.deploy import deploy, mark_release
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime
from tests.metrics.sql_support import ClubDatabase, sqlite_club


def _config(tmp_path: Path) -> Path:
    club = {
        "tier": "core",
        "driver": {"type": "fake"},
        "metrics": {
            "type": "sql",
            "url": "sqlite:///club.db",  # relative to the config file
            "interval": "100ms",
            "window": "1m",
            "checks": [
                {"name": "members", "count": "SELECT count(*) FROM members"},
                {
                    "name": "orphan_bookings",
                    "invariant": "SELECT count(*) FROM bookings b LEFT JOIN members m "
                    "ON m.id = b.member_id WHERE m.id IS NULL",
                },
            ],
        },
        "triggers": [
            {"name": "members-lost", "metric": "members_drop", "above": 0.1, "for": "0s"},
            {"name": "orphans", "metric": "orphan_bookings_violations", "above": 0, "for": "0s"},
        ],
        "policy": "rollback",  # data incidents are approve by default all the same
    }
    path = tmp_path / "backout.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "project": "data-checks-test",
                "state": {"database": "sqlite:///state.db", "directory": ".backout"},
                "services": {"club": club},
            }
        )
    )
    return path


@pytest.fixture
def club(tmp_path: Path) -> ClubDatabase:
    database = sqlite_club(tmp_path)
    database.add_members(1, 20)
    return database


@pytest.fixture
def runtime(tmp_path: Path, club: ClubDatabase) -> Iterator[Runtime]:
    opened = Runtime.open(_config(tmp_path), clock=ManualClock(datetime.now(UTC)))
    yield opened
    opened.close()


def _cycle_until(watcher: Watcher, wanted: str, *, timeout_s: float = 15) -> str:
    """Run cycles (the source samples on its own thread) until one's sentence has `wanted`."""
    deadline = time.monotonic() + timeout_s
    while True:
        [sentence] = watcher.run_cycle()
        if wanted in sentence:
            return sentence
        assert time.monotonic() < deadline, f"never {wanted!r}; last: {sentence}"
        time.sleep(0.05)


def test_deleted_rows_breach_the_drop_rule_and_the_rollback_waits_for_approval(
    runtime: Runtime, club: ClubDatabase
) -> None:
    for version in ("1.0.0", "1.1.0"):
        done = deploy(runtime, "club", version, ref=None, actor="test")
        assert done.state is RunState.SUCCEEDED, done.message
        if version == "1.0.0":
            mark_release(runtime, "club", version, ReleaseStatus.GOOD, actor="test", reason=None)
    watcher = Watcher(runtime)
    healthy = _cycle_until(watcher, "members count 20")
    assert "members drop 0.0%" in healthy, healthy

    club.execute("DELETE FROM members WHERE id > 15")  # a quarter of the members gone

    fired = _cycle_until(watcher, "rolling back")
    assert fired == (
        "club 1.1.0: members drop 25.0% > 10.0% for 0.0s, rolling back after approval "
        "(run 3, incident 1)"
    )
    [result] = watcher.wait_for_runs(timeout=30)
    assert result.state is RunState.AWAITING_APPROVAL
    assert watcher.run_cycle() == ["club 1.1.0: run 3 is awaiting_approval, triggers wait for it"]
    assert runtime.driver("club").current() == "1.1.0", "data is never rolled back blindly"
    assert views.incident_detail(runtime, 1)["category"] == "data"


def test_a_database_that_cannot_be_read_never_rolls_back(
    runtime: Runtime, club: ClubDatabase, tmp_path: Path
) -> None:
    done = deploy(runtime, "club", "1.0.0", ref=None, actor="test")
    assert done.state is RunState.SUCCEEDED, done.message
    watcher = Watcher(runtime)
    _cycle_until(watcher, "members count 20")

    (tmp_path / "club.db").rename(tmp_path / "club.db.moved")  # as good as gone

    unread = _cycle_until(watcher, "cannot reach")
    assert "club.db: unable to open database file" in unread, unread
    assert "incident" not in unread, unread
    assert "rolling back" not in unread, unread
    assert runtime.driver("club").current() == "1.0.0"


def test_a_trigger_on_a_metric_no_check_gives_is_refused(
    tmp_path: Path, club: ClubDatabase
) -> None:
    path = _config(tmp_path)
    text = path.read_text().replace("metric: members_drop", "metric: member_drop")
    path.write_text(text)

    with pytest.raises(ConfigError) as raised:
        Runtime.open(path)

    assert raised.value.problems == [
        "services.club.triggers[0].metric: 'member_drop' is not a metric of the sql source (it "
        "provides: members_count, members_drop, orphan_bookings_violations)"
    ]
