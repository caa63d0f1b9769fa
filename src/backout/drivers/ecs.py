"""The `ecs` driver: an ECS service switched between revisions of its task definition family.

    driver:
      type: ecs
      cluster: production
      service: backend
      family: backend                    # the task definition family of its releases
      region: eu-west-1
      wait_timeout: 10m                  # how long a deploy waits for the service to be stable

A release's `ref` is a task definition (`family:revision` or its ARN). A release without a ref
is found by the tag `backout:version` that backout puts on a task definition when it prepares
or deploys it as that version (the newest revisions of the family are searched). The service's
own tags keep what undo() and a deploy after stop() need: `backout:previous` (the task definition
before the last switch) and `backout:desired-count` (the task count before a stop).

deploy() = UpdateService(taskDefinition, desiredCount), then polling DescribeServices until the
service is stable: its task definition is the release's, one deployment is left (the PRIMARY;
AWS keeps the old one ACTIVE while it drains) and runningCount == desiredCount. The primary
deployment's own taskDefinition is not compared: moto's server keeps the old one there (and
reports running tasks only with MOTO_ECS_SERVICE_RUNNING set); on AWS, the PRIMARY deployment
after an update is the new one by construction. A deployment ECS marks FAILED (its deployment
circuit breaker) is a DriverError. stop() scales the service to 0 tasks.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from pydantic import Field

from backout.drivers._aws import AwsSettings, aws_call, aws_client, poll_until
from backout.drivers.base import DriverStatus, ReleaseRef, RunState
from backout.durations import PositiveDuration
from backout.errors import DriverError
from backout.registry import PluginContext

logger = logging.getLogger(__name__)

VERSION_TAG = "backout:version"
PREVIOUS_TAG = "backout:previous"
DESIRED_COUNT_TAG = "backout:desired-count"
_SEARCHED_REVISIONS = 100  # how far back a version without a ref is looked for


class EcsSettings(AwsSettings):
    cluster: str = Field(min_length=1, description="The ECS cluster (name or ARN).")
    service: str = Field(min_length=1, description="The ECS service (name or ARN).")
    family: str = Field(
        min_length=1, description="The task definition family the service's releases belong to."
    )
    desired_count: int | None = Field(
        None,
        ge=1,
        description="Tasks to start when deploying to a stopped service; default: as many as "
        "ran before the stop, else 1.",
    )
    wait_timeout: PositiveDuration = Field(
        timedelta(minutes=10), description="How long a deploy or stop waits for stability."
    )


def revision_name(task_definition_arn: str) -> str:
    """`family:revision` of a task definition ARN (or of `family:revision` itself)."""
    return task_definition_arn.rsplit("/", 1)[-1]


class EcsDriver:
    """Switches an ECS service between task definitions; its state is the service's own."""

    def __init__(self, settings: EcsSettings, context: PluginContext) -> None:
        self._settings = settings
        self._where = f"service {settings.service} of cluster {settings.cluster}"
        self._client: Any = None
        self._versions: dict[str, str | None] = {}  # task definition ARN → its version tag

    # --- reading -------------------------------------------------------------------------

    def current(self) -> str | None:
        service = self._service()
        if service["desiredCount"] == 0:
            return None
        return self._version_of(service["taskDefinition"])

    def status(self) -> DriverStatus:
        service = self._service()
        running, desired = service["runningCount"], service["desiredCount"]
        definition = revision_name(service["taskDefinition"])
        if desired == 0:
            left = f" ({running} task(s) still stopping)" if running else ""
            return DriverStatus(RunState.STOPPED, None, f"{self._where}: scaled to 0{left}")
        version = self._version_of(service["taskDefinition"])
        named = f"{definition} ({version})" if version else f"{definition}, not deployed by backout"
        detail = f"{self._where} runs {named}: {running}/{desired} task(s) running"
        primary = _primary(service)
        if primary.get("rolloutState") == "FAILED":
            reason = primary.get("rolloutStateReason", "no reason given")
            return DriverStatus(RunState.FAILED, version, f"{detail}; deployment failed: {reason}")
        if _stable_on(service, service["taskDefinition"]) is None:
            detail += "; a deployment is under way"
        return DriverStatus(RunState.RUNNING, version, detail)

    # --- changing ------------------------------------------------------------------------

    def prepare(self, release: ReleaseRef) -> None:
        self._task_definition(release)

    def deploy(self, release: ReleaseRef) -> None:
        self._switch_to(self._task_definition(release))

    def undo(self) -> str:
        """Switch back to the task definition that ran before the last switch; the version
        (or `family:revision`) now running."""
        service = self._service()
        previous = _tag(service, PREVIOUS_TAG) or self._revision_before(service["taskDefinition"])
        self._switch_to(previous)
        return self._version_of(previous) or revision_name(previous)

    def stop(self) -> None:
        service = self._service()
        desired = service["desiredCount"]
        if desired > 0:
            self._tag_service(service, {DESIRED_COUNT_TAG: str(desired)})
            self._update(taskDefinition=service["taskDefinition"], desiredCount=0)
        if service["runningCount"] > 0 or desired > 0:
            self._wait(lambda s: "stopped" if s["runningCount"] == 0 else None, "0 tasks")

    # --- the switch ----------------------------------------------------------------------

    def _switch_to(self, arn: str) -> None:
        service = self._service()
        if service["taskDefinition"] == arn and service["desiredCount"] > 0:
            if _stable_on(service, arn) is None:  # a deploy cut short: wait for it again
                self._wait_stable(arn)
            return
        desired = service["desiredCount"] or self._count_to_start(service)
        if service["taskDefinition"] != arn:
            self._tag_service(service, {PREVIOUS_TAG: service["taskDefinition"]})
        self._update(taskDefinition=arn, desiredCount=desired)
        logger.info("%s: switching to %s (%d task(s))", self._where, revision_name(arn), desired)
        self._wait_stable(arn)

    def _count_to_start(self, service: dict[str, Any]) -> int:
        if self._settings.desired_count is not None:
            return self._settings.desired_count
        recorded = _tag(service, DESIRED_COUNT_TAG)
        return int(recorded) if recorded and recorded.isdigit() and int(recorded) > 0 else 1

    def _wait_stable(self, arn: str) -> None:
        self._wait(lambda service: _stable_on(service, arn), f"{revision_name(arn)} to be stable")

    def _wait(self, reached: Any, what: str) -> None:
        def check() -> str | None:
            service = self._service()
            primary = _primary(service)
            if primary.get("rolloutState") == "FAILED":
                reason = primary.get("rolloutStateReason", "no reason given")
                raise DriverError(f"ECS gave up the deployment of {self._where}: {reason}")
            result: str | None = reached(service)
            return result

        timeout = self._settings.wait_timeout.total_seconds()
        poll_until(check, timeout, f"{self._where}: {what}")

    # --- task definitions ----------------------------------------------------------------

    def _task_definition(self, release: ReleaseRef) -> str:
        """The ARN of the release's task definition, tagged with its version."""
        if release.ref:
            arn, tags = self._describe_definition(release.ref)
            if revision_name(arn).rsplit(":", 1)[0] != self._settings.family:
                raise DriverError(
                    f"task definition {revision_name(arn)} (the ref of {release.version}) is "
                    f"not of the family {self._settings.family}"
                )
            if tags.get(VERSION_TAG) != release.version:
                self._tag(arn, {VERSION_TAG: release.version})
            self._versions[arn] = release.version
            return arn
        return self._find_version(release.version)

    def _find_version(self, version: str) -> str:
        family = self._settings.family
        for arn in self._family_revisions(family)[:_SEARCHED_REVISIONS]:
            if self._version_of(arn) == version:
                return arn
        raise DriverError(
            f"no task definition of {family} is tagged {VERSION_TAG}={version} "
            f"(newest {_SEARCHED_REVISIONS} revisions searched)",
            hint="give the release its task definition as ref (family:revision or its ARN)",
        )

    def _revision_before(self, arn: str) -> str:
        """The newest active revision of the family older than `arn`'s: what undo() goes back
        to when no switch was recorded."""
        family, revision = revision_name(arn).rsplit(":", 1)
        for candidate in self._family_revisions(family):
            if int(candidate.rsplit(":", 1)[1]) < int(revision):
                return candidate
        raise DriverError(
            f"{self._where}: no task definition before {revision_name(arn)} to undo to"
        )

    def _family_revisions(self, family: str) -> list[str]:
        """The ARNs of the family's active task definitions, newest first."""
        with aws_call(f"listing the task definitions of {family}"):
            pages = (
                self._ecs()
                .get_paginator("list_task_definitions")
                .paginate(familyPrefix=family, sort="DESC")
            )
            arns = [str(arn) for page in pages for arn in page.get("taskDefinitionArns", [])]
        # familyPrefix is a prefix: `web` also lists `web-worker`'s revisions; and the order
        # is made here (moto ignores sort=DESC).
        ours = [arn for arn in arns if revision_name(arn).rsplit(":", 1)[0] == family]
        return sorted(ours, key=lambda arn: int(arn.rsplit(":", 1)[1]), reverse=True)

    def _version_of(self, arn: str) -> str | None:
        if arn not in self._versions:
            _, tags = self._describe_definition(arn)
            self._versions[arn] = tags.get(VERSION_TAG)
        return self._versions[arn]

    def _describe_definition(self, name: str) -> tuple[str, dict[str, str]]:
        with aws_call(f"reading task definition {name}", not_found=f"{name} does not exist"):
            answer = self._ecs().describe_task_definition(taskDefinition=name, include=["TAGS"])
        tags = {tag["key"]: tag["value"] for tag in answer.get("tags", [])}
        return str(answer["taskDefinition"]["taskDefinitionArn"]), tags

    # --- ECS primitives ------------------------------------------------------------------

    def _service(self) -> dict[str, Any]:
        cluster, name = self._settings.cluster, self._settings.service
        with aws_call(f"reading {self._where}", not_found=f"cluster {cluster} does not exist"):
            answer = self._ecs().describe_services(
                cluster=cluster, services=[name], include=["TAGS"]
            )
        services = [s for s in answer.get("services", []) if s.get("status") == "ACTIVE"]
        if not services:
            raise DriverError(
                f"{self._where} does not exist (or was deleted)",
                hint="create the service first; backout switches an existing service's tasks",
            )
        service: dict[str, Any] = services[0]
        return service

    def _update(self, **changes: Any) -> None:
        cluster, name = self._settings.cluster, self._settings.service
        with aws_call(f"updating {self._where}", not_found=f"cluster {cluster} does not exist"):
            self._ecs().update_service(cluster=cluster, service=name, **changes)

    def _tag_service(self, service: dict[str, Any], tags: dict[str, str]) -> None:
        self._tag(str(service["serviceArn"]), tags)

    def _tag(self, arn: str, tags: dict[str, str]) -> None:
        with aws_call(f"tagging {revision_name(arn)}"):
            self._ecs().tag_resource(
                resourceArn=arn, tags=[{"key": k, "value": v} for k, v in tags.items()]
            )

    def _ecs(self) -> Any:
        if self._client is None:
            self._client = aws_client(self._settings, "ecs")
        return self._client


def _primary(service: dict[str, Any]) -> dict[str, Any]:
    for deployment in service.get("deployments", []):
        if deployment.get("status") == "PRIMARY":
            found: dict[str, Any] = deployment
            return found
    return {}


def _stable_on(service: dict[str, Any], arn: str) -> str | None:
    """ "stable" when the service runs `arn` with every task it wants and no other deployment."""
    others = [d for d in service.get("deployments", []) if d.get("status") != "PRIMARY"]
    settled = service["runningCount"] == service["desiredCount"] and not others
    return "stable" if service["taskDefinition"] == arn and settled else None


def _tag(service: dict[str, Any], key: str) -> str | None:
    for tag in service.get("tags", []):
        if tag.get("key") == key:
            value: str = tag.get("value", "")
            return value
    return None
