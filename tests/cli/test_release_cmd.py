"""`backout deploy`, `backout releases`, `backout release record|mark`: what was shipped, by whom,
and its verdict; a version names one artifact; unknown services and versions are named."""

from __future__ import annotations

import re
import socket
import urllib.request
from typing import TYPE_CHECKING

import pytest

from backout.releases import ReleaseStatus

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

NOT_FOUND = 4
HISTORY_FIELDS = {"version", "ref", "status", "created_at", "created_by"}


def test_deploy_puts_a_version_live_and_releases_shows_its_history(backout: Backout) -> None:
    deployed = backout("deploy", "api", "1.0.0", "--ref", "v1.0.0")

    assert deployed.code == 0, deployed
    assert deployed.stdout.strip() == "deploy of api to 1.0.0 succeeded"
    assert "Deploy 1.0.0" in deployed.stderr  # the steps, as they happen
    history = backout.ok("releases", "api", "--json").json()
    assert len(history) == 1
    assert history[0].keys() >= HISTORY_FIELDS
    assert {k: history[0][k] for k in ("version", "ref", "status", "created_by")} == {
        "version": "1.0.0",
        "ref": "v1.0.0",
        "status": "live",
        "created_by": "alice@test",
    }
    assert history[0]["created_at"].startswith("20")


def test_a_service_never_deployed_has_no_releases_yet(backout: Backout) -> None:
    assert backout.ok("releases", "api", "--json").json() == []
    assert "Traceback" not in backout.ok("releases", "api").stderr


def test_releases_lists_newest_first_as_a_table_too(backout: Backout) -> None:
    backout.good_then_live()

    history = backout.ok("releases", "api", "--json").json()
    table = backout.ok("releases", "api").stdout

    assert [(r["version"], r["status"]) for r in history] == [("1.1.0", "live"), ("1.0.0", "good")]
    assert table.index("1.1.0") < table.index("1.0.0")
    assert "v1.1.0" in table
    assert "ci" in table


def test_a_deploy_the_driver_refuses_exits_1_and_names_the_step(backout: Backout) -> None:
    backout.write(api=backout.service(fail_versions=["2.0.0"]))

    failed = backout("deploy", "api", "2.0.0")

    assert failed.code == 1, failed
    assert "Traceback" not in failed.stderr
    assert "deploy of api to 2.0.0 failed: step 1 (Deploy 2.0.0) failed" in failed.stdout
    assert "fail_versions" in failed.stdout


def test_release_record_is_idempotent_for_the_same_ref(backout: Backout) -> None:
    first = backout("release", "record", "api", "1.2.0", "--ref", "3f2c9e1")
    again = backout("release", "record", "api", "1.2.0", "--ref", "3f2c9e1")

    assert first.code == 0, first
    assert again.code == 0, again
    assert first.stdout.strip() == again.stdout.strip() == "api 1.2.0 recorded (live)"
    history = backout.history()
    assert [(r["version"], r["ref"], r["status"]) for r in history] == [
        ("1.2.0", "3f2c9e1", "live")
    ]


def test_release_record_refuses_the_same_version_with_another_ref(backout: Backout) -> None:
    backout.ok("release", "record", "api", "1.2.0", "--ref", "3f2c9e1")

    backout("release", "record", "api", "1.2.0", "--ref", "9999999").refused(
        1, "api 1.2.0 is already recorded with ref '3f2c9e1', not '9999999'", "a new version"
    )
    assert [r["ref"] for r in backout.history()] == ["3f2c9e1"]


def test_release_record_takes_a_status(backout: Backout) -> None:
    recorded = backout("release", "record", "api", "0.9.0", "--status", "good")

    assert recorded.code == 0, recorded
    assert recorded.stdout.strip() == "api 0.9.0 recorded (good)"
    status = backout.status()
    assert (status["live_version"], status["last_known_good"]) == ("0.9.0", "0.9.0")


def test_release_mark_gives_a_release_its_verdict_and_reason(backout: Backout) -> None:
    backout.record("api", "1.1.0", ReleaseStatus.LIVE)

    marked = backout("release", "mark", "api", "1.1.0", "good", "--reason", "QA signed off")

    assert marked.code == 0, marked
    assert marked.stdout.strip() == "api 1.1.0 marked good"
    [release] = backout.history()
    assert (release["status"], release["reason"]) == ("good", "QA signed off")
    assert release["good_at"] is not None


def test_release_mark_of_an_unknown_version_lists_the_known_ones(backout: Backout) -> None:
    backout.good_then_live()

    backout("release", "mark", "api", "3.0.0", "bad").refused(
        NOT_FOUND, "service 'api' has no recorded release '3.0.0'", "known versions: 1.1.0, 1.0.0"
    )


def test_release_mark_of_a_status_that_does_not_exist_is_a_usage_error(backout: Backout) -> None:
    backout.record("api", "1.1.0", ReleaseStatus.LIVE)

    result = backout("release", "mark", "api", "1.1.0", "great")

    result.refused(2, "great")


def test_every_release_command_names_the_known_services_for_an_unknown_one(
    backout: Backout,
) -> None:
    for command in (
        ["deploy", "apii", "1.0.0"],
        ["releases", "apii"],
        ["release", "record", "apii", "1.0.0"],
        ["release", "mark", "apii", "1.0.0", "good"],
    ):
        backout(*command).refused(
            NOT_FOUND, "unknown service 'apii'", "services in the config: api, web"
        )


def test_recording_a_release_again_keeps_its_verdict(backout: Backout) -> None:
    backout.record("api", "1.0.0", ReleaseStatus.GOOD)  # recorded with ref v1.0.0, then baked

    backout.ok("release", "record", "api", "1.0.0", "--ref", "v1.0.0")  # the pipeline retries

    status = backout.status()
    assert (status["live_version"], status["last_known_good"]) == ("1.0.0", "1.0.0")


def test_a_deploy_the_driver_refuses_is_failed_and_the_previous_release_stays_live(
    backout: Backout,
) -> None:
    backout.write(api=backout.service(fail_versions=["2.0.0"]), web=backout.service("core"))
    backout.ok("deploy", "api", "1.0.0")

    failed = backout("deploy", "api", "2.0.0")

    assert failed.code == 1, failed
    assert failed.stdout.rstrip().endswith("; 1.0.0 is live again"), failed
    [tried, previous] = backout.history()
    assert (tried["version"], tried["status"]) == ("2.0.0", "failed")
    assert "step 1 (Deploy 2.0.0) failed: fake driver" in tried["reason"]
    assert (previous["version"], previous["status"]) == ("1.0.0", "live")
    assert backout.status()["live_version"] == "1.0.0"
    with backout.runtime() as runtime:
        assert runtime.driver("api").current() == "1.0.0"


# Serves "<version>" on PORT; a release whose version is in $CRASHING exits at once instead.
CRASHING_SERVER = """\
import os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

version = os.environ["BACKOUT_VERSION"]
if version in os.environ.get("CRASHING", "").split():
    sys.exit("cannot connect to the database")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(version)))
        self.end_headers()
        self.wfile.write(version.encode())

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_a_release_that_dies_once_started_is_failed_and_the_previous_one_runs_again(
    backout: Backout,
) -> None:
    (backout.config.parent / "server.py").write_text(CRASHING_SERVER)
    port = free_port()
    api = backout.service()
    api["driver"] = {
        "type": "process",
        "command": "{python} server.py",
        "port": port,
        "env": {"CRASHING": "2.0.0"},
        "stop_timeout": "5s",
    }
    api["health"] = [{"type": "http", "url": f"http://127.0.0.1:{port}/"}]
    api["health_timeout"] = "3s"  # dead at once, or after its health checks: failed either way
    backout.write(api=api, web=backout.service("core"))
    try:
        backout.ok("deploy", "api", "1.0.0")

        failed = backout("deploy", "api", "2.0.0")

        assert failed.code == 1, failed
        assert failed.stdout.rstrip().endswith("; 1.0.0 is live again"), failed
        # Said once its health checks pass: it answers now, with no wait.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            assert answer.read() == b"1.0.0"
        assert [(r["version"], r["status"]) for r in backout.history()] == [
            ("2.0.0", "failed"),
            ("1.0.0", "live"),
        ]
        assert backout.status()["live_version"] == "1.0.0"
    finally:
        with backout.runtime() as runtime:
            runtime.driver("api").stop()


def test_a_previous_release_put_back_but_failing_its_health_checks_is_not_called_live(
    backout: Backout,
) -> None:
    (backout.config.parent / "server.py").write_text(CRASHING_SERVER)
    healthy = backout.config.parent / "healthy"
    healthy.touch()
    api = backout.service()
    api["driver"] = {
        "type": "process",
        "command": "{python} server.py",
        "port": free_port(),
        "env": {"CRASHING": "2.0.0"},
        "stop_timeout": "5s",
    }
    api["health"] = [{"type": "command", "command": ["test", "-f", str(healthy)]}]
    api["health_timeout"] = "1s"
    backout.write(api=api, web=backout.service("core"))
    try:
        backout.ok("deploy", "api", "1.0.0")
        healthy.unlink()  # what 1.0.0 needs is gone by the time it is put back

        failed = backout("deploy", "api", "2.0.0")

        assert failed.code == 1, failed
        assert "1.0.0 was started again, but its health checks do not pass" in failed.stdout
        assert "is live again" not in failed.stdout
    finally:
        with backout.runtime() as runtime:
            runtime.driver("api").stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_deploying_a_rolled_back_release_is_refused_naming_the_incident(
    live_api: Backout,
) -> None:
    run_id = live_api.rolled_back(reason="checkout 500s")

    live_api("deploy", "api", "1.1.0").refused(
        1,
        f"api 1.1.0 was rolled back by run {run_id} (incident 1): checkout 500s; not deploying "
        "it again",
        "--force",
    )
    assert live_api.status()["live_version"] == "1.0.0"


def test_a_forced_redeploy_keeps_the_story_of_the_first_rollback(live_api: Backout) -> None:
    run_id = live_api.rolled_back(reason="checkout 500s")

    forced = live_api("deploy", "api", "1.1.0", "--force")

    assert forced.code == 0, forced
    [again, good] = live_api.ok("releases", "api", "--json").json()
    assert (again["version"], again["status"], good["status"]) == ("1.1.0", "live", "good")
    first, second = again["deployments"]
    assert first["ended"] == {
        "at": first["ended"]["at"],
        "by": "rollback",
        "to_version": "1.0.0",
        "run_id": run_id,
        "incident_id": 1,
        "reason": "checkout 500s",
    }
    assert (second["how"], second["ended"]) == ("deploy", None)
    table = live_api.ok("releases", "api").stdout
    assert f"rolled back to 1.0.0 by run {run_id} (incident 1): checkout 500s" in table


def test_deploying_the_last_known_good_again_keeps_it_good(live_api: Backout) -> None:
    deployed = live_api("deploy", "api", "1.0.0")

    assert deployed.code == 0, deployed
    status = live_api.status()
    assert (status["live_version"], status["last_known_good"]) == ("1.0.0", "1.0.0")


def test_a_health_check_attempt_may_run_as_long_as_its_own_timeout(backout: Backout) -> None:
    api = backout.service()
    api["health"] = [{"type": "command", "command": "sleep 3", "name": "slow-warmup"}]
    api["health_timeout"] = "8s"  # each attempt used to be cut at 2 s: this never passed
    backout.write(api=api, web=backout.service("core"))

    deployed = backout("deploy", "api", "1.0.0")

    assert deployed.code == 0, deployed
    assert backout.status()["live_version"] == "1.0.0"


def test_a_health_check_attempt_is_cut_at_the_timeout_it_sets(backout: Backout) -> None:
    api = backout.service()
    api["health"] = [{"type": "command", "command": "sleep 3", "timeout": "1s", "name": "warmup"}]
    api["health_timeout"] = "2s"
    backout.write(api=api, web=backout.service("core"))

    failed = backout("deploy", "api", "1.0.0")

    assert failed.code == 1, failed
    assert "warmup: FAILED (expected exit 0; got timed out after" in failed.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["deploy", "api", "1" * 129], "a version is 1 to 128 characters, got 129"),
        (["deploy", "api", "1.0\n1"], "a version has no space or control character"),
        (["release", "record", "api", "1.0 beta"], "a version has no space or control character"),
        (["release", "record", "api", ""], "a version is 1 to 128 characters, got 0"),
        (["deploy", "api", "1.0.1", "--ref", "r" * 513], "a ref is 1 to 512 characters"),
        (["rollback", "api", "--to", "x" * 200, "--yes"], "a version is 1 to 128 characters"),
        (["token", "create", "n" * 65], "a token's name is 1 to 64 characters, got 65"),
        (["token", "create", "bad\nname"], "a token's name has no space or control character"),
    ],
)
def test_a_version_ref_or_name_no_record_can_hold_is_a_usage_error(
    backout: Backout, args: list[str], said: str
) -> None:
    backout(*args).refused(2, said)
    if args[0] == "rollback":  # the only one of them that takes --json
        backout(*args, "--json").refused(2, said)
    assert backout.history() == []


def test_a_ref_may_be_a_folder_with_spaces(backout: Backout) -> None:
    backout.ok("release", "record", "api", "1.0.0", "--ref", "/srv/builds/My App 1.0")

    assert backout.history()[0]["ref"] == "/srv/builds/My App 1.0"


def test_an_actor_no_record_can_hold_is_refused_naming_the_variable(backout: Backout) -> None:
    too_long = backout.with_env(BACKOUT_ACTOR="a" * 129)

    too_long("deploy", "api", "1.0.0").refused(3, "BACKOUT_ACTOR: expected 1 to 128 printable")
    assert backout.history() == []


def test_a_rollback_that_fails_after_stopping_the_bad_release_says_the_service_is_down(
    backout: Backout,
) -> None:
    (backout.config.parent / "server.py").write_text(CRASHING_SERVER)
    api = backout.service()
    api["driver"] = {
        "type": "process",
        "command": "{python} server.py",
        "port": free_port(),
        "stop_timeout": "5s",
    }
    api["health_timeout"] = "2s"
    backout.write(api=api, web=backout.service("core"))
    try:
        backout.ok("deploy", "api", "1.0.0")
        backout.ok("release", "mark", "api", "1.0.0", "good")
        backout.ok("deploy", "api", "1.1.0")
        api["driver"]["env"] = {"CRASHING": "1.0.0"}  # the good release no longer starts
        backout.write(api=api, web=backout.service("core"))

        failed = backout("rollback", "api", "--yes")

        assert failed.code == 1, failed
        last_line = failed.stdout.rstrip().splitlines()[-1]
        assert re.fullmatch(r"nothing of api runs now \((failed|stopped)\): it is DOWN", last_line)
    finally:
        with backout.runtime() as runtime:
            runtime.driver("api").stop()
