"""Bad input on the command line — a damaged state store, a URL backout cannot use, a value out
of range — is one readable message and the documented exit code, never a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cli.conftest import Backout

USAGE = 2
INVALID_CONFIG = 3
UNAVAILABLE = 8


def state_file(backout: Backout) -> Path:
    return backout.config.parent / ".backout" / "state.db"


def test_a_corrupt_state_file_names_the_store_and_exits_8(backout: Backout) -> None:
    backout.ok("status")
    state_file(backout).write_bytes(b"this is not a database, it is a shopping list\n" * 200)

    backout("status").refused(
        UNAVAILABLE, "state.db is damaged or is not a SQLite database", "restore the file"
    )


def test_a_truncated_state_file_names_the_store_and_exits_8(backout: Backout) -> None:
    backout.ok("release", "record", "api", "1.0.0")
    path = state_file(backout)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    backout("releases", "api").refused(UNAVAILABLE, "state.db is damaged")


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make `folder` and its files unwritable, even for root (who ignores permission bits)."""
    paths = [*folder.iterdir(), folder]
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    else:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_read_only_state_store_exits_8_saying_it_cannot_be_written(backout: Backout) -> None:
    backout.ok("release", "record", "api", "1.0.0")

    with read_only(state_file(backout).parent):
        result = backout("release", "record", "api", "1.1.0")

    result.refused(UNAVAILABLE, "state store sqlite:///", "state.db")
    assert "read-only" in result.stderr or "cannot be opened" in result.stderr, result


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:hunter2@db/backout",
        "sqlite://relative.db",
        "just-a-path.db",
        "postgresql://u:hunter2@127.0.0.1:99999/x",
        "postgresql://u:hunter2@[bad/x",
    ],
)
def test_an_unsupported_backout_database_url_exits_3_naming_the_variable(
    backout: Backout, url: str
) -> None:
    result = backout.with_env(BACKOUT_DATABASE_URL=url)("status")

    result.refused(INVALID_CONFIG, "$BACKOUT_DATABASE_URL: 1 problem(s)", "expected")
    assert "hunter2" not in result.stderr


def test_backout_check_refuses_an_unknown_state_database_scheme(backout: Backout) -> None:
    text = backout.config.read_text(encoding="utf-8")
    backout.config.write_text(
        text.replace("sqlite:///.backout/state.db", "mongodb://localhost/backout")
    )

    backout("check").refused(INVALID_CONFIG, "state.database: expected sqlite:///PATH")


def test_a_busy_looping_watch_interval_is_refused_by_check(backout: Backout) -> None:
    backout.config.write_text(
        backout.config.read_text(encoding="utf-8") + "watch:\n  interval: 0\n"
    )

    backout("check").refused(INVALID_CONFIG, "watch.interval: must be at least 10ms, got 0s")


@pytest.mark.parametrize("limit", ["-1", "0", "1000001"])
def test_a_list_limit_out_of_range_is_a_usage_error(backout: Backout, limit: str) -> None:
    backout("runs", "--limit", limit).refused(USAGE, "--limit")


@pytest.mark.parametrize("port", ["0", "70000", "-5"])
def test_a_port_out_of_range_is_a_usage_error(backout: Backout, port: str) -> None:
    backout("serve", "--port", port).refused(USAGE, "--port")


@pytest.mark.parametrize(
    "command",
    [
        ["rollback", "api", "--yes"],
        ["abort", "1"],
        ["stop", "api"],
        ["release", "mark", "api", "1.0.0", "good"],
        ["flags", "disable", "waitlist"],
    ],
)
def test_a_reason_longer_than_the_api_allows_is_a_usage_error(
    backout: Backout, command: list[str]
) -> None:
    result = backout(*command, "--reason", "x" * 1001)

    result.refused(USAGE, "--reason", "at most 1,000 characters, got 1,001")
