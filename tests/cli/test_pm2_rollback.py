"""The runbook's pm2 rollback through the `backout` program: a service run by a real pm2 daemon
is deployed, a bad release goes live, and `backout rollback` puts the good one back under pm2."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.drivers.driver_helpers import free_port
from tests.drivers.pm2_helpers import PM2, pm2_home_for_test, pm2_settings, write_pm2_app

if TYPE_CHECKING:
    from tests.cli.conftest import Backout


@pytest.fixture
def pm2_api(backout: Backout) -> Iterator[tuple[Backout, Path, int]]:
    """`api` run by pm2 (its own daemon, killed at the end) on a free port."""
    with pm2_home_for_test() as home:
        write_pm2_app(backout.config.parent / "app", name="api")
        port = free_port()
        api = backout.service()
        api["driver"] = {"type": "pm2", **pm2_settings(home, port)}
        api["health"] = [{"type": "http", "url": f"http://127.0.0.1:{port}/"}]
        backout.write(api=api, web=backout.service("core"))
        yield backout, home, port


def test_a_rollback_puts_the_good_release_back_under_pm2(
    pm2_api: tuple[Backout, Path, int],
) -> None:
    backout, home, port = pm2_api
    backout.ok("deploy", "api", "1.0.0")
    backout.ok("release", "mark", "api", "1.0.0", "good")
    backout.ok("deploy", "api", "1.1.0")

    rolled_back = backout("rollback", "api", "--yes", "--reason", "sessions 500s")

    assert rolled_back.code == 0, rolled_back
    api = backout.ok("status", "--json").json()[0]
    assert (api["running"], api["live_version"]) == ("running", "1.0.0")
    assert (api["port"], api["url"]) == (port, f"http://127.0.0.1:{port}/")
    with urllib.request.urlopen(api["url"], timeout=5) as answer:
        version, pid = answer.read().decode().split()
    assert (version, int(pid)) == ("1.0.0", api["pid"])
    listed = pm2_jlist(home)  # pm2 itself agrees, as `pm2 ls` would show it
    assert [(p["name"], p["pm2_env"]["status"]) for p in listed] == [("api", "online")]
    assert listed[0]["pm2_env"]["BACKOUT_VERSION"] == "1.0.0"

    backout.ok("stop", "api")
    assert [p["pm2_env"]["status"] for p in pm2_jlist(home)] == ["stopped"]
    assert backout.ok("status", "--json").json()[0]["running"] == "stopped"


def pm2_jlist(home: Path) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(PM2), "jlist"],
        env={**os.environ, "PM2_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listing: list[dict[str, Any]] = json.loads(done.stdout)
    return listing
