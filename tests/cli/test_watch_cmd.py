"""`backout watch`: one sentence per service saying what the loop decided; `--once` runs one
cycle, and the foreground loop keeps deciding until SIGTERM, then exits cleanly."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from backout import releases
from backout.operations import views
from backout.runtime import Runtime
from backout.store import utcnow

if TYPE_CHECKING:
    from tests.cli.conftest import Backout


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def healthy_url() -> Iterator[str]:
    """A loopback HTTP server that answers every request 200: a release with no fault."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def api_marked_good(runtime: Runtime) -> bool:
    status: str = views.release_history(runtime, "api")[0]["status"]
    return status == "good"


def test_watch_once_says_one_sentence_per_service(live_api: Backout) -> None:
    watched = live_api("watch", "--once")

    assert watched.code == 0, watched
    assert watched.stdout.splitlines() == [
        "api 1.1.0: no probe configured, triggers unarmed",
        "web: nothing deployed yet, not watching",
    ]


def test_watch_once_leaves_a_service_alone_while_a_run_is_under_way(live_api: Backout) -> None:
    run_id = live_api.rollback_waiting_for_approval()

    watched = live_api("watch", "--once")

    assert watched.code == 0, watched
    assert watched.stdout.splitlines()[0] == (
        f"api 1.1.0: run {run_id} is awaiting_approval, triggers wait for it"
    )


def test_watch_marks_a_baked_release_good_and_stops_on_sigterm(
    live_api: Backout, healthy_url: str
) -> None:
    api = live_api.service()
    api["probe"] = {"url": healthy_url, "interval": "20ms"}
    live_api.write(api=api, web=live_api.service("core"))
    watch = live_api.start("watch")
    live_api.wait_for("1.1.0 marked good by the watch loop", api_marked_good)

    watch.send_signal(signal.SIGTERM)
    stdout, stderr = watch.communicate(timeout=30)

    assert watch.returncode == 0, (stdout, stderr)
    assert "Traceback" not in stderr
    lines = stdout.splitlines()
    assert lines[0] == "watching api, web; Ctrl-C stops"
    assert any(
        line.startswith("api 1.1.0: baked 0s with no trigger, marked good") for line in lines
    ), stdout
    status = live_api.status()
    assert (status["live_version"], status["last_known_good"]) == ("1.1.0", "1.1.0")


def test_watch_bakes_only_what_it_watched_not_the_time_before_it_started(
    live_api: Backout, healthy_url: str
) -> None:
    api = live_api.service()
    api.update(bake_time="30s", probe={"url": healthy_url, "interval": "20ms"})
    live_api.write(api=api, web=live_api.service("core"))
    with live_api.runtime() as runtime, runtime.store.session() as session:
        live = releases.find(session, "production", "api", "1.1.0")
        live.live_at = utcnow() - timedelta(hours=1)  # deployed an hour ago, no loop watching
    watch = live_api.start("watch")
    assert watch.stdout is not None

    lines = []
    for line in watch.stdout:  # a line per changed decision: the second cycle has samples
        if line.startswith("api 1.1.0:"):
            lines.append(line.rstrip("\n"))
        if len(lines) == 2:
            break
    watch.send_signal(signal.SIGTERM)
    watch.communicate(timeout=30)

    assert "baked" not in lines[-1], lines
    assert re.fullmatch(
        r"api 1\.1\.0: healthy \(errors 0\.0%, p95 \d+ms, \d+ requests\), "
        r"baking [12]s of 30s \(\d+ samples\)",
        lines[-1],
    ), lines
    assert live_api.status()["last_known_good"] == "1.0.0"
