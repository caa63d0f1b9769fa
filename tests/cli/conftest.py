"""Helpers of the CLI tests: the installed `backout` console script run as a subprocess against
a `backout.yaml` in tmp_path whose services use the `fake` driver and router.

Two services, `api` (critical) and `web` (core), so that "unknown service" errors have a list
to show. Releases are seeded in-process through the operations API (milliseconds, where a
subprocess costs half a second); the command under test always runs as the real program.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from backout.operations import service_facts, views
from backout.operations.deploy import record_release
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime

BACKOUT = Path(sys.executable).with_name("backout")
ACTOR = "alice@test"
COMMAND_TIMEOUT_S = 60.0
_PLAN_GATED_ROLLBACK = """
import sys
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.runtime import Runtime

runtime = Runtime.open(sys.argv[1])
request = RollbackRequest(sys.argv[2], reason="trigger fired", approval_gate=True)
print(start_rollback(runtime, request, actor="watch").run_id)
runtime.close()
"""


def fake_service(tier: str = "critical", **driver: Any) -> dict[str, Any]:
    """A service section with nothing slow in its plan; `driver` adds fake driver settings."""
    return {
        "tier": tier,
        "driver": {"type": "fake", **driver},
        "router": {"type": "fake"},
        "health": [{"type": "command", "command": "true"}],
        "monitor": "0s",
        "traffic_hold": "0s",
        "bake_time": "0s",
    }


def config_text(**services: dict[str, Any]) -> str:
    services = services or {"api": fake_service(), "web": fake_service("core")}
    return yaml.safe_dump(
        {
            "project": "cli-test",
            "state": {"database": "sqlite:///.backout/state.db", "directory": ".backout"},
            "services": services,
        },
        sort_keys=False,
    )


def cli_environment(**extra: str) -> dict[str, str]:
    """This process's environment without BACKOUT_* settings, wide enough that tables never wrap."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOUT_")}
    env.update(COLUMNS="200", BACKOUT_ACTOR=ACTOR, **extra)
    return env


@dataclass(frozen=True)
class Result:
    """What one `backout` invocation did."""

    argv: list[str]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"$ {' '.join(self.argv)}\n→ {self.code}\n{self.stdout}\n{self.stderr}"

    def refused(self, code: int, *expected: str) -> None:
        """Assert a readable refusal: this exit code, each text said, and no traceback.

        Said on stderr; or, by a command given `--json`, in the error object on stdout.
        """
        assert self.code == code, self
        assert "Traceback" not in self.stderr, self
        said = self.stderr
        if "--json" in self.argv:
            error = self.json()["error"]
            assert error["exit_code"] == code, self
            said = f"{error['message']}\n{error['hint'] or ''}"
        for text in expected:
            assert text in said, self


def run_backout(
    *args: str | Path, cwd: Path, env: dict[str, str], stdin: int | None = subprocess.DEVNULL
) -> Result:
    """Run the console script to its end; stdin is not a terminal unless the caller gives one."""
    argv = [str(BACKOUT), *map(str, args)]
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    return Result(argv, done.returncode, done.stdout, done.stderr)


@dataclass
class Backout:
    """The `backout` program bound to one config file; seeds and inspects its state in-process."""

    config: Path
    env: dict[str, str] = field(default_factory=cli_environment)
    background: list[subprocess.Popen[str]] = field(default_factory=list)

    def __call__(self, *args: str, stdin: int | None = subprocess.DEVNULL) -> Result:
        """`backout ARGS --config CONFIG`, its stdin not a terminal unless `stdin` is one."""
        return run_backout(
            *args, "--config", self.config, cwd=self.config.parent, env=self.env, stdin=stdin
        )

    def bare(self, *args: str, cwd: Path | None = None) -> Result:
        """`backout ARGS` with no --config, run in `cwd` (default: the config's folder)."""
        return run_backout(*args, cwd=cwd or self.config.parent, env=self.env)

    def ok(self, *args: str) -> Result:
        """Run a command that must succeed (setup steps of a test)."""
        result = self(*args)
        assert result.code == 0, result
        return result

    def start(self, *args: str) -> subprocess.Popen[str]:
        """`backout ARGS --config CONFIG` in the background; killed at teardown if still running."""
        process = subprocess.Popen(
            [str(BACKOUT), *args, "--config", str(self.config)],
            cwd=self.config.parent,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.background.append(process)
        return process

    service = staticmethod(fake_service)

    def write(self, **services: dict[str, Any]) -> None:
        """Rewrite the config with these services (default: fake `api` and `web`)."""
        self.config.write_text(config_text(**services), encoding="utf-8")

    def at(self, config: Path) -> Backout:
        """The same program and environment, bound to another config file."""
        return Backout(config, self.env, self.background)

    def with_env(self, **variables: str) -> Backout:
        """The same program and config, with these environment variables set."""
        return Backout(self.config, {**self.env, **variables}, self.background)

    @contextmanager
    def runtime(self) -> Iterator[Runtime]:
        """The same config and state store, opened in this process."""
        runtime = Runtime.open(self.config)
        try:
            yield runtime
        finally:
            runtime.close()

    def record(self, service: str, version: str, status: ReleaseStatus) -> None:
        with self.runtime() as runtime:
            record_release(runtime, service, version, ref=f"v{version}", actor="ci", status=status)

    def good_then_live(self, service: str = "api") -> None:
        """1.0.0 marked good, then 1.1.0 put live: the state a bad release leaves."""
        self.record(service, "1.0.0", ReleaseStatus.GOOD)
        self.record(service, "1.1.0", ReleaseStatus.LIVE)

    def gated_rollback_left_by_a_dead_process(self, service: str = "api") -> int:
        """A rollback with an approval gate, planned by a watch loop that then died."""
        planned = subprocess.run(
            [sys.executable, "-c", _PLAN_GATED_ROLLBACK, str(self.config), service],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=True,
        )
        return int(planned.stdout)

    def rollback_waiting_for_approval(self, service: str = "api") -> int:
        """What the watch loop leaves under `policy: approve`: a run parked at its gate."""
        with self.runtime() as runtime:
            request = RollbackRequest(service, reason="trigger fired", approval_gate=True)
            run = start_rollback(runtime, request, actor="watch")
            result = run.execute()
        assert result.state is RunState.AWAITING_APPROVAL, result
        return run.run_id

    def rolled_back(self, service: str = "api", reason: str = "checkout 500s") -> int:
        """A manual rollback by ACTOR run to its end in-process, for tests of what follows it."""
        with self.runtime() as runtime:
            run = start_rollback(runtime, RollbackRequest(service, reason=reason), actor=ACTOR)
            result = run.execute()
        assert result.state is RunState.SUCCEEDED, result
        return run.run_id

    def run_detail(self, run_id: int) -> dict[str, Any]:
        with self.runtime() as runtime:
            return views.run_detail(runtime, run_id)

    def status(self, service: str = "api") -> dict[str, Any]:
        """What `backout status --json` says of `service`, read in-process."""
        with self.runtime() as runtime:
            return next(
                s for s in service_facts.service_statuses(runtime) if s["service"] == service
            )

    def history(self, service: str = "api") -> list[dict[str, Any]]:
        """What `backout releases SERVICE --json` says, read in-process."""
        with self.runtime() as runtime:
            return views.release_history(runtime, service)

    def wait_for_first_run(self) -> int:
        """The id of the first run, once a background command has stored it."""
        run_id: int = self.wait_for("first run", _first_run_id)
        return run_id

    def wait_until_deploying(self) -> int:
        """The id of the first run, once its deploy step (step 2 of a rollback) has started."""
        run_id: int = self.wait_for("deploy step of the first run", _first_run_deploying)
        return run_id

    def wait_for(self, what: str, found: Callable[[Runtime], Any], timeout: float = 20.0) -> Any:
        """Poll the state store until `found` returns something truthy; fail at the deadline."""
        deadline = time.monotonic() + timeout
        with self.runtime() as runtime:
            while time.monotonic() < deadline:
                value = found(runtime)
                if value:
                    return value
                time.sleep(0.05)
        ended = [p for p in self.background if p.poll() is not None]
        said = "".join(f"\n{p.args!r} ended {p.returncode}: {p.communicate()}" for p in ended)
        pytest.fail(f"no {what} within {timeout}s{said}")


def _first_run_id(runtime: Runtime) -> int | None:
    runs = views.list_runs(runtime)
    return int(runs[-1]["id"]) if runs else None


def _first_run_deploying(runtime: Runtime) -> int | None:
    run_id = _first_run_id(runtime)
    if run_id is None or views.run_detail(runtime, run_id)["steps"][1]["state"] != "running":
        return None
    return run_id


@pytest.fixture
def backout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backout]:
    """`backout` over a fresh config of fake services `api` and `web`, nothing recorded yet."""
    for name in [k for k in os.environ if k.startswith("BACKOUT_")]:
        monkeypatch.delenv(name)  # the in-process runtime must read the same config as the CLI
    assert BACKOUT.exists(), f"the console script {BACKOUT} is not installed (pip install -e .)"
    config = tmp_path / "backout.yaml"
    config.write_text(config_text(), encoding="utf-8")
    program = Backout(config)
    yield program
    for process in program.background:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.fixture
def live_api(backout: Backout) -> Backout:
    """`api` runs 1.1.0 (live); 1.0.0 before it was marked good."""
    backout.good_then_live()
    return backout
