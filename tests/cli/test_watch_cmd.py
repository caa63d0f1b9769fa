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


def test_watch_takes_over_a_rollback_whose_process_died_and_repeats_no_step(
    live_api: Backout,
) -> None:
    crashed = live_api.with_env(BACKOUT_FAILPOINTS="executor.after_step=2")(
        "rollback", "api", "--yes"
    )
    assert crashed.code == -signal.SIGKILL, crashed
    run_id = live_api.wait_for_first_run()

    watch = live_api.start("watch")
    live_api.wait_for(
        "the orphaned run finished by the watch",
        lambda runtime: views.run_detail(runtime, run_id)["state"] == "succeeded",
    )
    watch.send_signal(signal.SIGTERM)
    stdout, stderr = watch.communicate(timeout=30)

    assert watch.returncode == 0, stderr
    detail = live_api.run_detail(run_id)
    assert [step["attempts"] for step in detail["steps"][:2]] == [1, 1], "nothing done twice"
    assert f"run {run_id}: left unfinished by a process that is gone; resuming it" in stdout
    ended = [line for line in stdout.splitlines() if line.startswith(f"run {run_id}: ")]
    assert ended[-1] == f"run {run_id}: application rollback of api to 1.0.0 succeeded", stdout
    assert live_api.status()["live_version"] == "1.0.0"


def test_sigterm_leaves_a_run_between_two_steps_and_the_next_start_finishes_it(
    live_api: Backout,
) -> None:
    live_api.write(api=live_api.service(deploy_delay="4s"), web=live_api.service("core"))
    crashed = live_api.with_env(BACKOUT_FAILPOINTS="executor.after_step=1")(
        "rollback", "api", "--yes"
    )
    assert crashed.code == -signal.SIGKILL, crashed
    watch = live_api.start("watch")
    run_id = live_api.wait_until_deploying()  # the watch resumed it: step 2 is under way

    watch.send_signal(signal.SIGTERM)
    stdout, stderr = watch.communicate(timeout=30)

    assert watch.returncode == 0, stderr
    assert "Traceback" not in stderr
    left = live_api.run_detail(run_id)
    assert left["state"] == "running"
    assert [s["state"] for s in left["steps"][:3]] == ["succeeded", "succeeded", "pending"]
    assert f"run {run_id}: left before step 3/" in stdout, stdout

    again = live_api("watch", "--once")

    assert again.code == 0, again
    done = live_api.run_detail(run_id)
    assert done["state"] == "succeeded", done
    assert [s["attempts"] for s in done["steps"]] == [1] * len(done["steps"])
