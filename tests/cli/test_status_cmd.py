"""`backout status`: per service its tier, live version, last known good, open incidents and
the runs under way — as a table, or as JSON for a script."""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from backout.store import AuditEntry

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

FIELDS = {"service", "tier", "live_version", "last_known_good", "open_incidents", "active_runs"}


def test_status_of_services_with_nothing_deployed(backout: Backout) -> None:
    services = backout.ok("status", "--json").json()

    assert all(s.keys() >= FIELDS for s in services)
    assert [
        (s["service"], s["tier"], s["live_version"], s["last_known_good"], s["active_runs"])
        for s in services
    ] == [("api", "critical", None, None, []), ("web", "core", None, None, [])]


def test_status_names_the_live_version_and_the_last_known_good(live_api: Backout) -> None:
    api = live_api.ok("status", "--json").json()[0]

    assert (api["live_version"], api["live_status"], api["last_known_good"]) == (
        "1.1.0",
        "live",
        "1.0.0",
    )
    assert (api["open_incidents"], api["active_runs"]) == ([], [])


def test_status_lists_the_run_under_way_and_its_open_incident(live_api: Backout) -> None:
    run_id = live_api.rollback_waiting_for_approval()

    api = live_api.ok("status", "--json").json()[0]
    table = live_api.ok("status").stdout

    assert (api["open_incidents"], api["active_runs"]) == ([1], [run_id])
    assert "api" in table
    assert "critical" in table
    assert "1.1.0" in table
    assert "1.0.0" in table


def test_status_after_a_rollback_shows_what_the_driver_runs(live_api: Backout) -> None:
    live_api.rolled_back()

    api = live_api.ok("status", "--json").json()[0]

    assert api["live_version"] == "1.0.0"
    assert api["running"] == "running"
    assert api["detail"].startswith("fake: 1.0.0 deployed at")


# Serves its version on $PORT; on SIGTERM it writes "graceful" to the file $GOODBYE, then exits.
SERVER = """\
import os, pathlib, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def goodbye(*_):
    pathlib.Path(os.environ["GOODBYE"]).write_text("graceful")
    sys.exit(0)


signal.signal(signal.SIGTERM, goodbye)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ["BACKOUT_VERSION"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture
def process_api(backout: Backout) -> Iterator[tuple[Backout, int]]:
    """`api` as a real local process (the process driver) on a free port; stopped at the end."""
    folder = backout.config.parent
    (folder / "server.py").write_text(SERVER)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    api = backout.service()
    api["driver"] = {
        "type": "process",
        "command": "{python} server.py",
        "port": port,
        "env": {"GOODBYE": str(folder / "goodbye.txt")},
    }
    api["health"] = [{"type": "http", "url": f"http://127.0.0.1:{port}/"}]
    backout.write(api=api, web=backout.service("core"))
    yield backout, port
    with backout.runtime() as runtime:
        runtime.driver("api").stop()


def test_status_json_gives_the_pid_port_url_and_start_time_as_fields(
    process_api: tuple[Backout, int],
) -> None:
    backout, port = process_api
    backout.ok("deploy", "api", "1.0.0")

    api = backout.ok("status", "--json").json()[0]

    assert api["running"] == "running"
    assert (api["port"], api["url"]) == (port, f"http://127.0.0.1:{port}/")
    assert isinstance(api["pid"], int)
    assert os.getpgid(api["pid"]) == api["pid"]  # a live process, leading its own group
    assert datetime.fromisoformat(api["started_at"]) <= datetime.now(UTC)
    with urllib.request.urlopen(api["url"], timeout=5) as answer:
        assert answer.read() == b"1.0.0"
    assert f"running pid {api['pid']} :{port}" in backout.ok("status").stdout


def test_stop_stops_a_service_gracefully_and_records_it(process_api: tuple[Backout, int]) -> None:
    backout, _port = process_api
    backout.ok("deploy", "api", "1.0.0")
    backout.ok("release", "mark", "api", "1.0.0", "good")

    stopped = backout("stop", "api", "--reason", "maintenance window")

    assert stopped.code == 0, stopped
    assert stopped.stdout.strip() == "api 1.0.0 stopped"
    assert (backout.config.parent / "goodbye.txt").read_text() == "graceful"  # SIGTERM, handled
    api = backout.ok("status", "--json").json()[0]
    assert (api["running"], api["pid"], api["url"]) == ("stopped", None, None)
    with backout.runtime() as runtime, runtime.store.session() as session:
        [entry] = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "service.stopped")
        ).all()
        assert (entry.actor, entry.target) == ("alice@test", "api")
        assert entry.detail is not None
        assert entry.detail["reason"] == "maintenance window"
    watched = backout("watch", "--once")
    assert watched.stdout.splitlines()[0] == (
        "api 1.0.0: stopped by alice@test, not watching until it is deployed again"
    )


@pytest.mark.parametrize(
    "start_again",
    [("deploy", "api", "1.0.0"), ("release", "record", "api", "1.0.0")],
    ids=["deployed by backout", "recorded by a pipeline"],
)
def test_the_same_version_started_again_after_a_stop_is_watched_again(
    process_api: tuple[Backout, int], start_again: tuple[str, ...]
) -> None:
    backout, _port = process_api
    backout.ok("deploy", "api", "1.0.0")
    backout.ok("stop", "api")

    backout.ok(*start_again)

    watched = backout.ok("watch", "--once").stdout
    assert watched.startswith("api 1.0.0: "), watched
    assert "not watching until it is deployed again" not in watched


def test_stop_of_a_service_under_a_run_is_refused(live_api: Backout) -> None:
    run_id = live_api.rollback_waiting_for_approval()

    live_api("stop", "api").refused(5, f"service 'api' is locked by run {run_id}")
