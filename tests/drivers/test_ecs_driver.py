"""The ecs driver against moto's server (MOTO_ECS_SERVICE_RUNNING=1): what the service reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from driver_helpers import build_driver, free_port

from backout.drivers import Driver, ReleaseRef, RunState, UndoCapable
from backout.errors import DriverError
from tests.aws_support import REGION, Moto, ecs_cluster, unique

pytestmark = pytest.mark.usefixtures("aws_env")


class Ecs:
    """A family with task definitions bootstrap (1), 1.0.0 (2), 1.1.0 (3); a service on 1."""

    def __init__(self, moto: Moto, tmp_path: Path, *, running: bool = True) -> None:
        self.family = unique("web")
        self.cluster, self.service = ecs_cluster(
            moto, self.family, ["bootstrap", "1.0.0", "1.1.0"], running=running
        )
        self.client = moto.client("ecs")
        self.settings = moto.settings(
            cluster=self.cluster, service=self.service, family=self.family
        )
        self.tmp_path = tmp_path

    def driver(self, **overrides: Any) -> Driver:
        return build_driver("ecs", {**self.settings, **overrides}, self.tmp_path)

    def release(self, version: str, revision: int | None = None) -> ReleaseRef:
        ref = None if revision is None else f"{self.family}:{revision}"
        return ReleaseRef(service="web", version=version, ref=ref)

    def reported(self) -> dict[str, Any]:
        found: dict[str, Any] = self.client.describe_services(
            cluster=self.cluster, services=[self.service]
        )["services"][0]
        return found

    def revision(self) -> str:
        return str(self.reported()["taskDefinition"]).rsplit("/", 1)[1]


@pytest.fixture
def ecs(moto: Moto, tmp_path: Path) -> Ecs:
    return Ecs(moto, tmp_path)


def test_moto_deploy_switches_the_service_and_records_the_version(ecs: Ecs) -> None:
    driver = ecs.driver()
    assert driver.current() is None, "revision 1 was not deployed by backout"
    assert "not deployed by backout" in driver.status().detail
    driver.deploy(ecs.release("1.1.0", revision=3))
    assert ecs.revision() == f"{ecs.family}:3"
    assert driver.current() == "1.1.0"
    status = driver.status()
    assert (status.state, status.version) == (RunState.RUNNING, "1.1.0")
    assert "1/1 task(s) running" in status.detail


def test_moto_a_version_without_ref_is_found_by_its_tag(ecs: Ecs) -> None:
    driver = ecs.driver()
    driver.prepare(ecs.release("1.0.0", revision=2))
    assert ecs.revision() == f"{ecs.family}:1", "prepare leaves the service alone"
    driver.deploy(ecs.release("1.1.0", revision=3))
    ecs.driver().deploy(ecs.release("1.0.0"))  # a new process, no ref: the tag says which
    assert ecs.revision() == f"{ecs.family}:2"
    with pytest.raises(DriverError, match=r"is tagged backout:version=9\.9\.9"):
        driver.deploy(ecs.release("9.9.9"))


def test_moto_a_ref_of_another_family_is_refused(ecs: Ecs, moto: Moto) -> None:
    other = unique("worker")
    ecs.client.register_task_definition(
        family=other, containerDefinitions=[{"name": "w", "image": "w:1", "memory": 64}]
    )
    with pytest.raises(DriverError, match=f"not of the family {ecs.family}"):
        ecs.driver().deploy(ReleaseRef(service="web", version="1.0.0", ref=f"{other}:1"))
    assert ecs.revision() == f"{ecs.family}:1"


def test_moto_undo_goes_back_to_the_task_definition_before_the_last_switch(ecs: Ecs) -> None:
    driver = ecs.driver()
    driver.deploy(ecs.release("1.0.0", revision=2))
    driver.deploy(ecs.release("1.1.0", revision=3))
    assert isinstance(driver, UndoCapable)
    assert driver.undo() == "1.0.0"
    assert ecs.revision() == f"{ecs.family}:2"
    assert driver.undo() == "1.1.0", "undo of an undo, as kubectl rollout undo"
    assert ecs.revision() == f"{ecs.family}:3"


def test_moto_undo_without_a_recorded_switch_takes_the_revision_before(ecs: Ecs) -> None:
    ecs.client.update_service(
        cluster=ecs.cluster, service=ecs.service, taskDefinition=f"{ecs.family}:3"
    )
    driver = ecs.driver()
    assert isinstance(driver, UndoCapable)
    assert driver.undo() == f"{ecs.family}:2", "not deployed by backout: named by revision"
    assert ecs.revision() == f"{ecs.family}:2"


def test_moto_stop_scales_to_zero_and_a_deploy_brings_the_count_back(ecs: Ecs) -> None:
    driver = ecs.driver()
    ecs.client.update_service(cluster=ecs.cluster, service=ecs.service, desiredCount=3)
    driver.deploy(ecs.release("1.0.0", revision=2))
    driver.stop()
    assert (ecs.reported()["desiredCount"], ecs.reported()["runningCount"]) == (0, 0)
    assert driver.status().state is RunState.STOPPED
    driver.deploy(ecs.release("1.1.0", revision=3))
    assert ecs.reported()["desiredCount"] == 3, "as many tasks as before the stop"


def test_moto_a_deploy_that_never_settles_is_a_retryable_error(ecs: Ecs, moto: Moto) -> None:
    # A service created with more tasks than moto starts (MOTO_ECS_SERVICE_RUNNING=1) stays
    # short of its count, as a service whose new tasks keep failing their health checks.
    ecs.client.create_service(
        cluster=ecs.cluster,
        serviceName="short",
        taskDefinition=f"{ecs.family}:2",
        desiredCount=4,
    )
    driver = build_driver(
        "ecs", {**ecs.settings, "service": "short", "wait_timeout": "1s"}, ecs.tmp_path
    )
    with pytest.raises(DriverError, match="gave up waiting after 1s") as raised:
        driver.deploy(ecs.release("1.0.0", revision=2))
    assert raised.value.retryable
    assert "1/4 task(s) running; a deployment is under way" in driver.status().detail


def test_moto_an_unknown_cluster_is_a_clear_error(ecs: Ecs, tmp_path: Path) -> None:
    driver = ecs.driver(cluster=unique("nowhere"))
    with pytest.raises(DriverError, match=r"cluster nowhere-.* does not exist") as raised:
        driver.current()
    assert not raised.value.retryable


def test_moto_an_unknown_service_is_a_clear_error(ecs: Ecs) -> None:
    with pytest.raises(DriverError, match=r"service api of cluster .* does not exist"):
        ecs.driver(service="api").status()


def test_an_ecs_endpoint_that_does_not_answer_is_a_retryable_error(tmp_path: Path) -> None:
    settings = {
        "cluster": "c",
        "service": "s",
        "family": "f",
        "endpoint_url": f"http://127.0.0.1:{free_port()}",
        "region": REGION,
        "max_attempts": 1,
    }
    with pytest.raises(DriverError, match="cannot be reached") as raised:
        build_driver("ecs", settings, tmp_path).current()
    assert raised.value.retryable
