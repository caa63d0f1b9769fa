"""The platforms story (`backout quickstart --scenario platforms`): the demo's backend behind a
real HAProxy in two process slots, its static front end in S3 behind CloudFront (moto), its
infrastructure in Terraform and its DNS name in BIND. A good then a bad release of all of it
ships; the trigger fires on the backend; the person on call (the story) rolls the whole
environment back under steady client traffic; what the real parts say afterwards is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backout import releases
from backout.clock import wait_until
from backout.controller.watch import Watcher
from backout.dns import dns_provider_for
from backout.dns.base import RecordSet
from backout.incidents import open_incident_for
from backout.operations import views
from backout.operations.deploy import deploy
from backout.operations.dns_runs import record_dns
from backout.operations.full_rollback import plan_full
from backout.operations.rollback import approve_run
from backout.operations.several_rollback import service_outcomes, start_several
from backout.operations.stack_runs import record_stack
from backout.quickstart.platforms import aws, bind, haproxy, stack
from backout.quickstart.platforms._children import Child
from backout.quickstart.platforms.traffic import Traffic, Window
from backout.quickstart.platforms.workspace import (
    BACKEND,
    DNS_TARGETS,
    FRONTEND,
    PlatformsWorkspace,
    create_platforms_workspace,
    write_config,
)
from backout.quickstart.scenario import require_success, watch_until, workspace_log
from backout.quickstart.workspace import ACTOR
from backout.releases import ReleaseStatus
from backout.runs.records import RunResult, RunState, StepListener
from backout.runtime import Runtime

Narrate = Callable[[str], None]
BAKE_DEADLINE_S = 90.0
TRIGGER_DEADLINE_S = 60.0
SERVICES = (BACKEND, FRONTEND)


@dataclass
class PlatformsQuickstartResult:
    services_rolled_back: list[str]  # in the order the run brought them back
    failed_requests: int  # client requests through HAProxy that failed during the rollback
    requests_during_rollback: int
    dns_restored: bool
    infrastructure_restored: bool
    cdn_invalidated: bool
    time_to_detect_s: float | None
    time_to_recover_s: float | None
    incident_id: int | None
    run_id: int
    run_state: str
    workspace: str
    config: str
    logs: str
    served_by_version: dict[str, int] = field(default_factory=dict)  # during the rollback
    failures: list[str] = field(default_factory=list)  # the first ones' reasons, if any
    steps: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def recovered(self) -> bool:
        return (
            self.run_state == RunState.SUCCEEDED
            and self.services_rolled_back == list(SERVICES)
            and self.failed_requests == 0
            and self.dns_restored
            and self.infrastructure_restored
            and self.cdn_invalidated
        )


def run_platforms_quickstart(
    workspace_dir: Path | None = None,
    *,
    narrate: Narrate = lambda _: None,
    on_step: StepListener | None = None,
    keep_running: bool = False,
) -> PlatformsQuickstartResult:
    """Tell the whole story; the workspace stays, so every command works on it afterwards."""
    workspace = create_platforms_workspace(workspace_dir)
    narrate(f"workspace {workspace.path}: the demo app, releases 1.0.0 and 1.1.0 built")
    with ExitStack() as running:
        distribution_id = running.enter_context(_real_parts(workspace, narrate, keep_running))
        running.enter_context(aws.aws_credentials())
        write_config(workspace, distribution_id)
        runtime = Runtime.open(workspace.config_file)
        running.callback(runtime.close)
        if not keep_running:
            running.callback(lambda: runtime.driver(BACKEND).stop())
        log_file = running.enter_context(workspace_log(runtime))
        story = _Story(runtime, workspace, distribution_id, narrate, on_step)
        result = story.tell(log_file)
    return result


@contextmanager
def _real_parts(
    workspace: PlatformsWorkspace, narrate: Narrate, keep_running: bool
) -> Iterator[str]:
    """moto, HAProxy and BIND started (each said), stopped at the end unless kept running;
    yields the CloudFront distribution's id."""
    children: list[Child] = []
    try:
        children.append(aws.start_moto(workspace.aws))
        distribution_id = aws.create_site(workspace.aws)
        narrate(
            f"AWS (moto's server) on {workspace.aws.endpoint_url}: bucket {aws.BUCKET}, "
            f"CloudFront distribution {distribution_id}"
        )
        children.append(haproxy.start_haproxy(workspace.haproxy))
        narrate(
            f"HAProxy on {workspace.haproxy.url}, backend {workspace.haproxy.backend} over "
            f"slots {workspace.haproxy.slot_ports}"
        )
        children.append(bind.start_bind(workspace.dns))
        narrate(f"BIND on 127.0.0.1:{workspace.dns.port}, zone {bind.ZONE} (TSIG updates)")
        yield distribution_id
    finally:
        if not keep_running:
            for child in reversed(children):
                child.stop()


class _Story:
    def __init__(
        self,
        runtime: Runtime,
        workspace: PlatformsWorkspace,
        distribution_id: str,
        narrate: Narrate,
        on_step: StepListener | None,
    ) -> None:
        self.runtime = runtime
        self.workspace = workspace
        self.distribution_id = distribution_id
        self.narrate = narrate
        self.on_step = on_step
        self.watcher = Watcher(runtime, on_change=narrate)

    def tell(self, log_file: Path) -> PlatformsQuickstartResult:
        good, bad = self.workspace.repo.good_version, self.workspace.repo.bad_version
        self._release(good)
        watch_until(self.watcher, self._all_good(good), BAKE_DEADLINE_S)
        traffic = Traffic(self.workspace.haproxy.url + "/version")
        traffic.start()
        try:
            wait_until(lambda: traffic.requests() > 20, 10.0)
            self.narrate(f"steady traffic through HAProxy: {traffic.clients} clients")
            self._release(bad)
            incident_id = self._wait_for_the_trigger()
            invalidated_before = self._invalidations()
            traffic.begin_window()
            result = self._roll_back_everything()
            seen = traffic.window()
        finally:
            traffic.stop()
        return self._summarise(result, incident_id, log_file, invalidated_before, seen)

    # -- the pipeline's part -------------------------------------------------------------------

    def _release(self, version: str) -> None:
        """What the team's pipeline does for a release: apply the infrastructure, point DNS,
        deploy the backend and the front end, and record each with backout."""
        runtime, workspace = self.runtime, self.workspace
        variables = workspace.stack_vars(version)
        stack.apply(runtime, variables, workspace.stack_vars_file)
        record_stack(runtime, stack.STACK, actor=ACTOR)
        target = DNS_TARGETS[version]
        dns_provider_for(runtime.config, bind.RECORD).apply(
            RecordSet.of(bind.RECORD, "A", [target], 60)
        )
        record_dns(runtime, [bind.RECORD], actor=ACTOR)
        self.narrate(
            f"released {version}: terraform applied api_image={variables['api_image']}, "
            f"{bind.RECORD} → {target}"
        )
        for service, ref in (
            (BACKEND, workspace.release_dir(version)),
            (FRONTEND, workspace.release_dir(version) / "dist"),
        ):
            self.narrate(f"deploying {service} {version}")
            require_success(
                deploy(runtime, service, version, ref=str(ref), actor=ACTOR, on_step=self.on_step)
            )

    def _all_good(self, version: str) -> Callable[[], bool]:
        def done() -> bool:
            with self.runtime.store.session() as session:
                return all(
                    releases.find(session, self.runtime.environment, s, version).status
                    == ReleaseStatus.GOOD
                    for s in SERVICES
                )

        return done

    # -- the person on call's part -------------------------------------------------------------

    def _wait_for_the_trigger(self) -> int:
        found: list[int] = []

        def opened() -> bool:
            with self.runtime.store.session() as session:
                incident = open_incident_for(session, self.runtime.environment, BACKEND)
                if incident is not None:
                    found.append(incident.id)
            return bool(found)

        watch_until(self.watcher, opened, TRIGGER_DEADLINE_S)
        return found[0]

    def _roll_back_everything(self) -> RunResult:
        preview = plan_full(self.runtime, reason="the backend's error rate is over its trigger")
        self.narrate(f"the person on call rolls back the whole environment: {preview.plan.aims}")
        for line in preview.plan.describe():
            self.narrate(f"  {line}")
        run = start_several(self.runtime, preview, actor=ACTOR, trigger="error-rate")
        result = run.execute(self.on_step)
        while result.state is RunState.AWAITING_APPROVAL:
            self.narrate(f"approved by {ACTOR} after reading: {result.message}")
            result = approve_run(self.runtime, result.run_id, ACTOR).execute(self.on_step)
        return result

    # -- what the real parts say afterwards ----------------------------------------------------

    def _invalidations(self) -> set[str]:
        return set(aws.completed_invalidations(self.workspace.aws, self.distribution_id))

    def _summarise(
        self,
        result: RunResult,
        incident_id: int,
        log_file: Path,
        invalidated_before: set[str],
        seen: Window,
    ) -> PlatformsQuickstartResult:
        runtime, workspace = self.runtime, self.workspace
        good = workspace.repo.good_version
        incident = views.incident_detail(runtime, incident_id)
        run = views.run_detail(runtime, result.run_id)
        outcomes = service_outcomes(runtime, result.run_id)
        return PlatformsQuickstartResult(
            services_rolled_back=[
                o.service for o in outcomes if o.state == "rolled_back" and ":" not in o.service
            ],
            failed_requests=seen.failed,
            requests_during_rollback=seen.requests,
            dns_restored=workspace.dns.answers(bind.RECORD) == [DNS_TARGETS[good]],
            infrastructure_restored=(
                stack.outputs(runtime)["api_image"] == workspace.stack_vars(good)["api_image"]
            ),
            cdn_invalidated=bool(self._invalidations() - invalidated_before),
            time_to_detect_s=incident["time_to_detect_s"],
            time_to_recover_s=incident["time_to_recover_s"],
            incident_id=incident_id,
            run_id=result.run_id,
            run_state=str(result.state),
            workspace=str(workspace.path),
            config=str(workspace.config_file),
            logs=str(log_file),
            served_by_version=seen.served_by_version,
            failures=seen.failures,
            steps=run["steps"],
        )
