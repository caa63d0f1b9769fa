"""The guarantees of backout.drivers.base, checked for every driver against a real service.

`process`, `git-build` and `pm2` (a real pm2 daemon) run a real HTTP server on a loopback port
that answers with its version and pid; `fake` runs nothing and is observed through its own status;
`docker` runs the demo images on the tests' own dockerd (tests/docker_support.py), which serve
their version and an instance id; `static-s3` and `ecs` run against moto's server and are
observed through what the bucket's live prefix and the ECS service report;
`kubernetes_fake_api` rolls deployments on a FAKE API server (tests/kubernetes_fake_api.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from driver_helpers import answer, build_driver, free_port, git_build_settings, write_server
from pm2_helpers import pm2_settings, write_pm2_app

from backout.drivers import Driver, ReleaseRef, RunState
from tests.aws_support import Moto, ecs_cluster, s3_text, unique, write_build
from tests.docker_support import Dockerd
from tests.kubernetes_fake_api import FakeKubeApi, write_kubeconfig


@dataclass
class Subject:
    """A driver under test, how to build it again, and how to see what actually serves."""

    build: Callable[[], Driver]
    first: ReleaseRef
    second: ReleaseRef
    state_dir: Path
    observe: Callable[[float], tuple[str, str] | None]  # (version, instance) serving now


def _fake(tmp_path: Path) -> Subject:
    def build() -> Driver:
        return build_driver("fake", {}, tmp_path)

    def observe(wait: float) -> tuple[str, str] | None:
        driver = build()
        version = driver.current()
        return None if version is None else (version, driver.status().detail)

    return Subject(build, _release("1.0.0"), _release("1.1.0"), tmp_path / ".backout", observe)


def _process(tmp_path: Path) -> Subject:
    write_server(tmp_path / "app")
    port = free_port()
    settings = {
        "command": "{python} server.py {port} {version}",
        "cwd": "app",
        "port": port,
        "stop_timeout": "3s",
    }
    return Subject(
        lambda: build_driver("process", settings, tmp_path),
        _release("1.0.0"),
        _release("1.1.0"),
        tmp_path / ".backout",
        _http_observer(port),
    )


def _git_build(tmp_path: Path, app_repo: Path) -> Subject:
    port = free_port()
    settings = git_build_settings(tmp_path, port)
    return Subject(
        lambda: build_driver("git-build", settings, tmp_path),
        _release("1.0.0"),
        _release("1.1.0"),
        tmp_path / ".backout",
        _http_observer(port),
    )


def _pm2(tmp_path: Path, pm2_home: Path) -> Subject:
    write_pm2_app(tmp_path / "app")
    port = free_port()
    settings = pm2_settings(pm2_home, port)
    return Subject(
        lambda: build_driver("pm2", settings, tmp_path),
        _release("1.0.0"),
        _release("1.1.0"),
        tmp_path / ".backout",
        _http_observer(port),
    )


def _docker(tmp_path: Path, dockerd: Dockerd) -> Subject:
    port = free_port()
    settings = {
        "image": "demo",
        "host": dockerd.host,
        "port": port,
        "pull": "never",
        "stop_timeout": "3s",
    }
    return Subject(
        lambda: build_driver("docker", settings, tmp_path),
        _release("1.0.0"),
        _release("1.1.0"),
        tmp_path / ".backout",
        _http_observer(port),
    )


def _kubernetes_fake_api(tmp_path: Path, api: FakeKubeApi) -> Subject:
    api.add_deployment("shop-backend", "registry.test/shop:0.9.0", replicas=0)
    settings = {
        "kubeconfig": str(write_kubeconfig(tmp_path / "kubeconfig", api.url)),
        "namespace": api.namespace,
        "deployments": ["shop-backend"],
        "image": "registry.test/shop",
        "rollout_timeout": "5s",
    }

    def observe(wait: float) -> tuple[str, str] | None:
        deadline = time.monotonic() + wait
        while True:
            version, replicaset, available = api.serving("shop-backend")
            if available and version is not None:
                return version, replicaset
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    return Subject(
        lambda: build_driver("kubernetes", settings, tmp_path),
        _release("1.0.0"),
        _release("1.1.0"),
        tmp_path / ".backout",
        observe,
    )


def _http_observer(port: int) -> Callable[[float], tuple[str, str] | None]:
    def observe(wait: float) -> tuple[str, str] | None:
        body = answer(port, wait=wait)
        if body is None:
            return None
        version, pid = body.split()
        return version, pid

    return observe


def _release(version: str) -> ReleaseRef:
    return ReleaseRef(service="web", version=version)


def _static_s3_moto(tmp_path: Path, moto: Moto) -> Subject:
    bucket = unique("site")
    moto.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    for version in ("1.0.0", "1.1.0"):
        write_build(tmp_path / "builds" / version, version)
    settings = moto.settings(bucket=bucket, builds_dir="builds", live_prefix="site")

    def observe(wait: float) -> tuple[str, str] | None:
        page = s3_text(moto, bucket, "site/index.html")
        marker = s3_text(moto, bucket, "site/.backout/live.json")
        if page is None or marker is None:
            return None
        return page.removeprefix("<h1>").removesuffix("</h1>"), marker.split('"deploy_id"')[1]

    return Subject(
        lambda: build_driver("static-s3", settings, tmp_path),
        _release("1.0.0"),
        _release("1.1.0"),
        tmp_path / ".backout",
        observe,
    )


def _ecs_moto(tmp_path: Path, moto: Moto) -> Subject:
    family = unique("web")
    cluster, service = ecs_cluster(moto, family, ["bootstrap", "1.0.0", "1.1.0"], running=False)
    settings = moto.settings(cluster=cluster, service=service, family=family)
    ecs = moto.client("ecs")

    def observe(wait: float) -> tuple[str, str] | None:
        found = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        if found["runningCount"] == 0:
            return None
        definition = ecs.describe_task_definition(taskDefinition=found["taskDefinition"])
        image: str = definition["taskDefinition"]["containerDefinitions"][0]["image"]
        return image.rsplit(":", 1)[1], found["taskDefinition"]

    return Subject(
        lambda: build_driver("ecs", settings, tmp_path),
        ReleaseRef(service="web", version="1.0.0", ref=f"{family}:2"),
        ReleaseRef(service="web", version="1.1.0", ref=f"{family}:3"),
        tmp_path / ".backout",
        observe,
    )


@pytest.fixture(
    params=[
        "fake",
        "process",
        "git-build",
        "pm2",
        "docker",
        "static-s3-moto",
        "ecs-moto",
        "kubernetes_fake_api",
    ]
)
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Subject:
    if request.param == "fake":
        return _fake(tmp_path)
    if request.param == "process":
        return _process(tmp_path)
    if request.param == "pm2":  # a real pm2 daemon of the test's own
        return _pm2(tmp_path, request.getfixturevalue("pm2_home"))
    if request.param == "docker":
        return _docker(tmp_path, request.getfixturevalue("dockerd"))
    if request.param == "static-s3-moto":
        request.getfixturevalue("aws_env")
        return _static_s3_moto(tmp_path, request.getfixturevalue("moto"))
    if request.param == "ecs-moto":
        request.getfixturevalue("aws_env")
        return _ecs_moto(tmp_path, request.getfixturevalue("moto"))
    if request.param == "kubernetes_fake_api":
        return _kubernetes_fake_api(tmp_path, request.getfixturevalue("fake_kube_api"))
    return _git_build(tmp_path, request.getfixturevalue("app_repo"))


def test_building_a_driver_has_no_side_effects(subject: Subject) -> None:
    driver = subject.build()
    assert not subject.state_dir.exists()
    driver.current()
    driver.status()
    assert not subject.state_dir.exists(), "current() and status() are read-only"


def test_nothing_runs_before_the_first_deploy(subject: Subject) -> None:
    driver = subject.build()
    assert driver.current() is None
    status = driver.status()
    assert status.state is RunState.STOPPED
    assert status.version is None


def test_deploy_makes_the_release_current_and_serving(subject: Subject) -> None:
    driver = subject.build()
    driver.deploy(subject.first)
    assert driver.current() == "1.0.0"
    status = driver.status()
    assert (status.state, status.version) == (RunState.RUNNING, "1.0.0")
    serving = subject.observe(5)
    assert serving is not None
    assert serving[0] == "1.0.0"


def test_deploying_the_running_version_again_is_a_no_op(subject: Subject) -> None:
    driver = subject.build()
    driver.deploy(subject.first)
    before = subject.observe(5)
    driver.deploy(subject.first)
    subject.build().deploy(subject.first)
    assert subject.observe(5) == before, "the same instance still serves"


def test_deploying_another_version_switches_to_it(subject: Subject) -> None:
    driver = subject.build()
    driver.deploy(subject.first)
    before = subject.observe(5)
    driver.deploy(subject.second)
    assert driver.current() == "1.1.0"
    after = subject.observe(5)
    assert after is not None
    assert before is not None
    assert after[0] == "1.1.0"
    assert after[1] != before[1], "a new instance serves"
    driver.deploy(subject.first)
    assert driver.current() == "1.0.0"


def test_prepare_leaves_what_runs_untouched(subject: Subject) -> None:
    driver = subject.build()
    driver.deploy(subject.first)
    before = subject.observe(5)
    driver.prepare(subject.second)
    driver.prepare(subject.second)
    assert driver.current() == "1.0.0"
    assert subject.observe(5) == before


def test_stop_stops_the_service_and_is_idempotent(subject: Subject) -> None:
    driver = subject.build()
    driver.stop()
    driver.deploy(subject.first)
    driver.stop()
    assert driver.current() is None
    status = driver.status()
    assert (status.state, status.version) == (RunState.STOPPED, None)
    assert subject.observe(0) is None
    driver.stop()
    assert driver.status().state is RunState.STOPPED


def test_a_new_driver_object_sees_what_an_earlier_one_deployed(subject: Subject) -> None:
    subject.build().deploy(subject.first)
    later = subject.build()
    assert later.current() == "1.0.0"
    assert later.status().state is RunState.RUNNING
    later.stop()
    assert subject.build().current() is None
    assert subject.observe(0) is None


def test_deploy_after_stop_starts_the_release_again(subject: Subject) -> None:
    driver = subject.build()
    driver.deploy(subject.first)
    driver.stop()
    driver.deploy(subject.first)
    assert driver.current() == "1.0.0"
    serving = subject.observe(5)
    assert serving is not None
    assert serving[0] == "1.0.0"
