"""What every check type guarantees (see backout/checks/base.py), each against a real target."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel

from backout.checks import CHECKS, Check, CheckResult
from backout.checks.command import CommandCheckSettings
from backout.checks.http import HttpCheckSettings
from backout.checks.tcp import TcpCheckSettings
from backout.errors import ConfigError

if TYPE_CHECKING:
    from conftest import WebServer

BuildCheck = Callable[..., Check]
Target = Callable[[pytest.FixtureRequest], dict[str, Any]]


def _slow_web(request: pytest.FixtureRequest) -> dict[str, Any]:
    web: WebServer = request.getfixturevalue("web")
    web.respond(delay_s=30)
    return {"url": web.url()}


HEALTHY: dict[str, Target] = {
    "http": lambda request: {"url": request.getfixturevalue("web").url()},
    "tcp": lambda request: {"port": request.getfixturevalue("listening_port")},
    "command": lambda request: {"command": "true"},
}
DEAD: dict[str, Target] = {
    "http": lambda request: {"url": f"http://127.0.0.1:{request.getfixturevalue('closed_port')}/"},
    "tcp": lambda request: {"port": request.getfixturevalue("closed_port")},
    "command": lambda request: {"command": "no-such-program-4f2a"},
}
SLOW: dict[str, Target] = {
    "http": _slow_web,
    "tcp": lambda request: {"port": request.getfixturevalue("unanswered_port")},
    "command": lambda request: {"command": "sleep 30"},
}
SETTINGS: dict[str, type[BaseModel]] = {
    "http": HttpCheckSettings,
    "tcp": TcpCheckSettings,
    "command": CommandCheckSettings,
}
KINDS = sorted(SETTINGS)


def _check(
    kind: str, targets: dict[str, Target], request: pytest.FixtureRequest, build: BuildCheck
) -> Check:
    return build(kind, **targets[kind](request))


def test_every_check_type_is_registered() -> None:
    assert set(KINDS) <= set(CHECKS.names())


@pytest.mark.parametrize("kind", KINDS)
def test_a_built_check_is_a_check_with_a_name(
    kind: str, request: pytest.FixtureRequest, build: BuildCheck
) -> None:
    check = _check(kind, HEALTHY, request, build)

    assert isinstance(check, Check)
    assert check.name.startswith(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_a_healthy_target_gives_an_ok_result(
    kind: str, request: pytest.FixtureRequest, build: BuildCheck
) -> None:
    result = _check(kind, HEALTHY, request, build).run(timeout=5)

    assert isinstance(result, CheckResult)
    assert result.ok, result.sentence()
    assert result.sentence().endswith(f": ok (expected {result.expected}; got {result.observed})")


@pytest.mark.parametrize("kind", KINDS)
def test_a_dead_target_gives_a_failed_result_not_an_exception(
    kind: str, request: pytest.FixtureRequest, build: BuildCheck
) -> None:
    check = _check(kind, DEAD, request, build)

    result = check.run(timeout=5)

    assert isinstance(result, CheckResult)
    assert not result.ok
    assert result.name == check.name
    assert result.expected
    assert result.observed
    assert ": FAILED (expected " in result.sentence()


@pytest.mark.parametrize("kind", KINDS)
def test_a_slow_target_is_given_up_on_at_the_timeout(
    kind: str, request: pytest.FixtureRequest, build: BuildCheck
) -> None:
    check = _check(kind, SLOW, request, build)

    started = time.monotonic()
    result = check.run(timeout=0.4)
    elapsed = time.monotonic() - started

    assert not result.ok
    assert result.observed.startswith("timed out after 400ms")
    assert elapsed < 0.4 + 0.5
    assert result.duration_s == pytest.approx(elapsed, abs=0.05)


@pytest.mark.parametrize("kind", KINDS)
def test_running_again_gives_the_same_verdict(
    kind: str, request: pytest.FixtureRequest, build: BuildCheck
) -> None:
    healthy = _check(kind, HEALTHY, request, build)
    dead = _check(kind, DEAD, request, build)

    assert [healthy.run(timeout=5).ok for _ in range(2)] == [True, True]
    assert [dead.run(timeout=5).ok for _ in range(2)] == [False, False]


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_key_is_a_config_error_naming_it(
    kind: str, request: pytest.FixtureRequest, build: BuildCheck
) -> None:
    settings = {**HEALTHY[kind](request), "retries": 3}

    with pytest.raises(ConfigError) as raised:
        build(kind, **settings)

    assert [p.split(": ")[0] for p in raised.value.problems] == ["services.api.health[0].retries"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_setting_is_described(kind: str) -> None:
    fields = SETTINGS[kind].model_fields

    assert {name for name, field in fields.items() if not field.description} == set()
