"""The flags quickstart: the runbook's "Feature Flag Rollback", told on this machine.

The demo's bad release 1.1.0 takes its failing waitlist path only behind the feature flag
`waitlist` (30 % of listings), which it reads from `backout serve` through backout's flag
client (push). The service's policy is flag first: when the error-rate trigger fires, backout
turns the flag off, the app hears of it within a moment, the error rate falls back under the
threshold, and no redeploy happens.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from backout.atomic import write_text_atomic
from backout.errors import BackoutError, UnavailableError
from backout.operations import views
from backout.operations.tokens import Role, create_token
from backout.quickstart.scenario import (
    ROLLBACK_DEADLINE_S,
    Narrate,
    ship_good_then_bad,
    watch_until,
    workspace_log,
)
from backout.quickstart.workspace import ACTOR, SERVICE, Workspace, create_workspace, free_port
from backout.runs.records import StepListener
from backout.runtime import Runtime

FLAG = "waitlist"
SERVER_START_DEADLINE_S = 30.0


@dataclass
class FlagsQuickstartResult:
    mitigated_by: str | None  # "flag", or "rollback" when turning the flag off did not help
    flag: str
    time_to_detect_s: float | None
    time_to_mitigate_s: float | None
    redeployed: bool
    incident_id: int | None
    run_id: int | None
    serve_pid: int | None  # `backout serve`, when left running (keep_running)
    workspace: str
    config: str
    logs: str
    decisions: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Mitigation:
    """When the error rate of the last second fell back under the trigger's threshold."""

    def __init__(self, runtime: Runtime, threshold: float) -> None:
        self._runtime = runtime
        self._threshold = threshold
        self.at: datetime | None = None

    def look(self) -> None:
        source = self._runtime.metrics(SERVICE)
        if self.at is not None or source is None:
            return
        recent = source.snapshot(since=time.time() - 1.0)
        error_rate = recent.value("error_rate")
        if recent.samples >= 5 and error_rate is not None and error_rate < self._threshold:
            self.at = self._runtime.clock.now()


def run_flags_quickstart(
    workspace_dir: Path | None = None,
    *,
    narrate: Narrate = lambda _: None,
    on_step: StepListener | None = None,
    keep_running: bool = False,
) -> FlagsQuickstartResult:
    """Tell the story; `backout serve` and the app are stopped at the end unless `keep_running`."""
    workspace = create_workspace(workspace_dir)
    flags_port = free_port()
    _configure_flags(workspace, flags_port, token=_client_token(workspace))
    narrate(f"workspace {workspace.path}: the waitlist of 1.1.0 is behind the flag {FLAG!r}")
    server = _start_flag_server(workspace, flags_port)
    runtime = Runtime.open(workspace.config_file)
    try:
        _wait_for_flag_server(flags_port)
        narrate(f"backout serve answers the Unleash client API on port {flags_port}")
        with workspace_log(runtime) as log_file:
            result = _tell(runtime, workspace, log_file, narrate, on_step)
        result.serve_pid = server.pid if keep_running else None
        return result
    finally:
        if not keep_running:
            runtime.driver(SERVICE).stop()
            server.terminate()
            server.wait(timeout=10)
        runtime.close()


def _client_token(workspace: Workspace) -> str:
    """A client token for the app: made in the workspace's store before the app is configured."""
    runtime = Runtime.open(workspace.config_file)
    try:
        return create_token(runtime, "badminton-app", Role.CLIENT, actor=ACTOR)
    finally:
        runtime.close()


def _configure_flags(workspace: Workspace, flags_port: int, *, token: str) -> None:
    config = yaml.safe_load(workspace.config_file.read_text())
    service = config["services"][SERVICE]
    service["policy"] = "flag_first"
    service["guarded_by"] = [FLAG]
    service["driver"]["env"].update(
        BADMINTON_FLAGS_URL=f"http://127.0.0.1:{flags_port}/api", BADMINTON_FLAGS_TOKEN=token
    )
    config["flags"] = {
        "definitions": {
            FLAG: {"description": "Court sessions show their waitlist (1.1.0)", "rollout": 30}
        }
    }
    text = "# Written by `backout quickstart --scenario flags`: the demo app behind a flag.\n"
    write_text_atomic(workspace.config_file, text + yaml.safe_dump(config, sort_keys=False))


def _start_flag_server(workspace: Workspace, port: int) -> subprocess.Popen[bytes]:
    """`backout serve --no-watch`, as a team runs it: the flag API the app reads."""
    log = workspace.path / ".backout" / "logs" / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    backout = str(Path(sys.executable).with_name("backout"))
    config = str(workspace.config_file)
    with log.open("ab") as output:
        return subprocess.Popen(
            [backout, "serve", "--no-watch", "--port", str(port), "--config", config],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _wait_for_flag_server(port: int) -> None:
    end = time.monotonic() + SERVER_START_DEADLINE_S
    while time.monotonic() < end:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/client/features", timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise UnavailableError(
        f"backout serve did not answer on port {port} in {SERVER_START_DEADLINE_S:.0f}s",
        hint="see .backout/logs/serve.log in the workspace",
    )


def _tell(
    runtime: Runtime,
    workspace: Workspace,
    log_file: Path,
    narrate: Narrate,
    on_step: StepListener | None,
) -> FlagsQuickstartResult:
    watcher, decisions = ship_good_then_bad(
        runtime,
        workspace,
        narrate,
        on_step,
        bad_is=f": its waitlist path, behind {FLAG!r} at 30 %, fails",
    )
    mitigation = _Mitigation(runtime, _error_threshold(runtime))

    def settled() -> bool:
        if any("flag first" in d for d in decisions):
            mitigation.look()
        return bool(watcher.results) and mitigation.at is not None

    watch_until(watcher, settled, ROLLBACK_DEADLINE_S)
    result = watcher.wait_for_runs()[-1]
    return _summarise(runtime, workspace, log_file, decisions, mitigation, result.run_id)


def _error_threshold(runtime: Runtime) -> float:
    rules = runtime.config.service(SERVICE).triggers
    return min((r.above for r in rules if r.metric == "error_rate" and r.above), default=0.05)


def _summarise(  # noqa: PLR0917 - private, called once
    runtime: Runtime,
    workspace: Workspace,
    log_file: Path,
    decisions: list[str],
    mitigation: _Mitigation,
    run_id: int,
) -> FlagsQuickstartResult:
    run = views.run_detail(runtime, run_id)
    incident = views.incident_detail(runtime, run["incident_id"]) if run["incident_id"] else None
    kinds = {r["kind"] for r in views.list_runs(runtime, service=SERVICE)}
    redeployed = "application" in kinds
    detected = datetime.fromisoformat(incident["detected_at"]) if incident else None
    mitigate_s = (
        round((mitigation.at - detected).total_seconds(), 3)
        if mitigation.at is not None and detected is not None
        else None
    )
    if run["kind"] == "feature_flag" and run["state"] == "succeeded" and not redeployed:
        mitigated_by: str | None = "flag"
    elif redeployed:
        mitigated_by = "rollback"
    else:
        raise BackoutError(f"quickstart stopped: run {run_id} ended {run['state']}")
    return FlagsQuickstartResult(
        mitigated_by=mitigated_by,
        flag=FLAG,
        time_to_detect_s=incident["time_to_detect_s"] if incident else None,
        time_to_mitigate_s=mitigate_s,
        redeployed=redeployed,
        incident_id=run["incident_id"],
        run_id=run_id,
        serve_pid=None,
        workspace=str(workspace.path),
        config=str(workspace.config_file),
        logs=str(log_file),
        decisions=decisions,
        timeline=incident["timeline"] if incident else [],
    )
