"""The docker driver beyond the contract: the replaced container is kept until retired, a
missing tag or an unreachable daemon is a clear error that changes nothing, a container that
dies at start is reported with its output. Against the tests' own dockerd (docker_support)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from driver_helpers import answer, build_driver, free_port

from backout.drivers import Driver, ReleaseRef, RunState
from backout.drivers.base import RetireCapable
from backout.drivers.docker import DockerDriver
from backout.errors import ConfigError, DriverError
from tests.docker_support import Dockerd


def _settings(dockerd: Dockerd, port: int | None, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "image": "demo",
        "host": dockerd.host,
        "port": port,
        "pull": "never",
        "stop_timeout": "3s",
        "start_timeout": "5s",
    }
    settings.update(overrides)
    return settings


def _release(version: str, ref: str | None = None) -> ReleaseRef:
    return ReleaseRef(service="web", version=version, ref=ref)


def _labels(dockerd: Dockerd, name: str) -> dict[str, str]:
    done = dockerd.docker("container", "inspect", "--format", "{{json .Config.Labels}}", name)
    labels: dict[str, str] = json.loads(done.stdout)
    return labels


def _running(dockerd: Dockerd, name: str) -> bool:
    done = dockerd.docker("container", "inspect", "--format", "{{.State.Running}}", name)
    return done.stdout.strip() == "true"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def driver(dockerd: Dockerd, port: int, tmp_path: Path) -> Driver:
    return build_driver("docker", _settings(dockerd, port), tmp_path)


def test_the_replaced_container_is_kept_stopped_until_retired(
    driver: Driver, dockerd: Dockerd, port: int
) -> None:
    driver.deploy(_release("1.0.0"))
    driver.deploy(_release("1.1.0"))

    assert dockerd.names() == ["web", "web-previous-1.0.0"]
    assert not _running(dockerd, "web-previous-1.0.0")
    assert _labels(dockerd, "web-previous-1.0.0")["backout.version"] == "1.0.0"
    assert (answer(port) or "").startswith("1.1.0 ")

    assert isinstance(driver, RetireCapable)
    assert driver.retire_previous() == ["web-previous-1.0.0"]
    assert dockerd.names() == ["web"]
    assert driver.current() == "1.1.0"
    assert driver.retire_previous() == [], "retiring twice is a no-op"


def test_only_the_container_replaced_last_is_kept(driver: Driver, dockerd: Dockerd) -> None:
    driver.deploy(_release("1.0.0"))
    driver.deploy(_release("1.1.0"))
    driver.deploy(_release("1.0.0"))
    assert dockerd.names() == ["web", "web-previous-1.1.0"]
    replaced_last = _container_id(dockerd, "web")
    driver.deploy(_release("1.1.0"))

    assert dockerd.names() == ["web", "web-previous-1.0.0"]
    assert _container_id(dockerd, "web-previous-1.0.0") == replaced_last


def test_stop_keeps_the_container_aside_too(driver: Driver, dockerd: Dockerd) -> None:
    driver.deploy(_release("1.0.0"))
    driver.stop()
    assert dockerd.names() == ["web-previous-1.0.0"]
    assert driver.status().state is RunState.STOPPED


def test_a_missing_tag_is_an_error_naming_it_and_nothing_changes(
    driver: Driver, dockerd: Dockerd, port: int
) -> None:
    driver.deploy(_release("1.0.0"))
    before = answer(port)

    with pytest.raises(DriverError, match=r"image demo:9\.9\.9 is not on the docker host") as err:
        driver.deploy(_release("9.9.9"))
    with pytest.raises(DriverError, match=r"demo:9\.9\.9"):
        driver.prepare(_release("9.9.9"))

    assert "pull: never" in err.value.message
    assert driver.current() == "1.0.0"
    assert answer(port) == before, "the same container still serves"
    assert dockerd.names() == ["web"]


def test_an_unreachable_daemon_is_a_clear_retryable_error(tmp_path: Path, port: int) -> None:
    host = f"unix://{tmp_path}/no-dockerd.sock"
    driver = build_driver("docker", {"image": "demo", "host": host, "port": port}, tmp_path)
    for call in (driver.current, driver.status, lambda: driver.deploy(_release("1.0.0"))):
        with pytest.raises(DriverError, match="cannot reach the docker daemon at unix://") as err:
            call()
        assert host in err.value.message
        assert err.value.retryable


def test_a_missing_docker_cli_is_named(tmp_path: Path) -> None:
    settings = {"image": "demo", "docker": str(tmp_path / "no-docker")}
    with pytest.raises(DriverError, match=r"docker CLI .*no-docker.* is not installed"):
        build_driver("docker", settings, tmp_path).current()


def test_a_docker_setting_that_is_no_program_is_named(tmp_path: Path) -> None:
    not_a_program = tmp_path / "docker.txt"
    not_a_program.write_text("not a program\n")
    settings = {"image": "demo", "docker": str(not_a_program)}
    with pytest.raises(DriverError, match=r"cannot run the docker CLI .*docker\.txt"):
        build_driver("docker", settings, tmp_path).current()


def test_a_port_held_by_another_process_is_a_retryable_error(
    driver: Driver, dockerd: Dockerd, port: int
) -> None:
    with (
        socket.create_server(("127.0.0.1", port)),
        pytest.raises(DriverError, match=rf"port {port} is still held") as err,
    ):
        driver.deploy(_release("1.0.0"))
    assert err.value.retryable
    assert dockerd.names() == [], "no container was started"


def test_a_container_dying_at_start_fails_the_deploy_with_its_output(
    dockerd: Dockerd, tmp_path: Path, port: int
) -> None:
    driver = build_driver("docker", _settings(dockerd, port, restart="no"), tmp_path)
    driver.deploy(_release("1.0.0"))

    with pytest.raises(DriverError, match=r"web 2\.0\.0 did not start: .*exit code 3") as err:
        driver.deploy(_release("2.0.0", ref="crash"))

    assert "DATABASE_URL is not set" in str(err.value.hint)
    status = driver.status()
    assert (status.state, status.version) == (RunState.FAILED, None)
    assert "exit code 3" in status.detail
    assert "web-previous-1.0.0" in dockerd.names(), "what ran before is kept to put back"


def test_a_command_docker_cannot_start_is_reported_and_set_aside_by_the_next_deploy(
    dockerd: Dockerd, tmp_path: Path, port: int
) -> None:
    bad = build_driver("docker", _settings(dockerd, port, command="/bin/no-such-server"), tmp_path)
    with pytest.raises(
        DriverError, match=r"docker run of web 1\.0\.0 \(demo:1\.0\.0\) failed: .*no-such-server"
    ):
        bad.deploy(_release("1.0.0"))
    assert bad.status().state is RunState.FAILED

    good = build_driver("docker", _settings(dockerd, port), tmp_path)
    good.deploy(_release("1.0.0"))
    assert good.current() == "1.0.0"
    assert dockerd.names() == ["web", "web-previous-1.0.0"]


def test_a_crash_looping_container_with_a_restart_policy_fails_the_deploy(
    dockerd: Dockerd, tmp_path: Path
) -> None:
    # A grace wider than a loaded machine's `docker inspect`s: the crash is seen, not outlived.
    driver = build_driver("docker", _settings(dockerd, None, start_grace="10s"), tmp_path)
    with pytest.raises(DriverError, match="did not start"):
        driver.deploy(_release("2.0.0", ref="crash"))
    assert driver.current() is None


def test_status_says_where_the_service_answers(driver: Driver, dockerd: Dockerd, port: int) -> None:
    driver.deploy(_release("1.1.0"))
    status = driver.status()
    assert (status.state, status.version, status.port) == (RunState.RUNNING, "1.1.0", port)
    assert status.url == f"http://127.0.0.1:{port}/"
    assert status.started_at is not None
    assert status.pid is not None
    assert "runs demo:1.1.0" in status.detail
    labels = _labels(dockerd, "web")
    assert labels["backout.service"] == "web"
    assert labels["backout.container"] == "web"


def test_the_container_gets_its_environment(dockerd: Dockerd, tmp_path: Path, port: int) -> None:
    settings = _settings(dockerd, port, env={"API_TOKEN": "s3cr3t value=with=signs"})
    build_driver("docker", settings, tmp_path).deploy(_release("1.0.0"))
    done = dockerd.docker("container", "inspect", "--format", "{{json .Config.Env}}", "web")
    env = json.loads(done.stdout)
    assert {
        "API_TOKEN=s3cr3t value=with=signs",
        "BACKOUT_SERVICE=web",
        "BACKOUT_VERSION=1.0.0",
        f"PORT={port}",
    } <= set(env)


def test_the_release_ref_is_the_tag_or_a_whole_reference(tmp_path: Path) -> None:
    driver = build_driver("docker", {"image": "registry:5000/team/api"}, tmp_path)
    assert isinstance(driver, DockerDriver)
    assert driver.image_for(_release("1.4.0")) == "registry:5000/team/api:1.4.0"
    assert driver.image_for(_release("1.4.0", "3f2a9c1")) == "registry:5000/team/api:3f2a9c1"
    whole = "registry:5000/team/api@sha256:" + "a" * 64
    assert driver.image_for(_release("1.4.0", whole)) == whole


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"image": "demo:1.0.0"}, "image"),
        ({"image": "demo", "container": "my app"}, "container"),
        ({"image": "demo", "run_args": ["--network=bridge"]}, "run_args"),
        ({"image": "demo", "command": "serve --port {port}"}, "command"),
        ({"image": "demo", "restart": "sometimes"}, "restart"),
        ({"image": "demo", "env": {"KEY": "two\nlines"}}, "env"),
    ],
)
def test_bad_settings_are_a_config_error_naming_the_key(
    settings: dict[str, Any], key: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=rf"driver\.{key}"):
        build_driver("docker", settings, tmp_path)


def test_the_command_setting_replaces_the_images_with_placeholders(
    dockerd: Dockerd, tmp_path: Path, port: int
) -> None:
    command = [
        "/bin/sh",
        "-c",
        "echo {version} {port} > /www/index.html && exec httpd -f -p 127.0.0.1:{port} -h /www",
    ]
    driver = build_driver("docker", _settings(dockerd, port, command=command), tmp_path)
    driver.deploy(_release("1.0.0"))
    assert answer(port) == f"1.0.0 {port}\n"


def _container_id(dockerd: Dockerd, name: str) -> str:
    return dockerd.docker("container", "inspect", "--format", "{{.Id}}", name).stdout.strip()
