"""The `tcp` check against real sockets on loopback ports."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from backout.checks import Check
from backout.errors import ConfigError

BuildCheck = Callable[..., Check]


def test_a_listening_port_passes(listening_port: int, build: BuildCheck) -> None:
    result = build("tcp", port=listening_port).run(timeout=2)

    assert result.ok
    assert result.expected == f"a TCP connection to 127.0.0.1:{listening_port}"
    assert re.fullmatch(r"connected after \d+ms", result.observed)


def test_a_closed_port_fails_as_refused(closed_port: int, build: BuildCheck) -> None:
    result = build("tcp", port=closed_port).run(timeout=2)

    assert not result.ok
    assert result.observed == "connection refused"


def test_a_port_that_never_answers_fails_at_the_timeout(
    unanswered_port: int, build: BuildCheck
) -> None:
    result = build("tcp", port=unanswered_port).run(timeout=0.3)

    assert not result.ok
    assert result.observed == "timed out after 300ms"
    assert 0.25 < result.duration_s < 0.8


def test_an_unresolvable_host_fails_saying_so(build: BuildCheck) -> None:
    result = build("tcp", host="no-such-host.invalid", port=80).run(timeout=5)

    assert not result.ok
    assert result.observed.startswith("cannot resolve host 'no-such-host.invalid'")


def test_a_host_name_is_resolved(listening_port: int, build: BuildCheck) -> None:
    # localhost may resolve to ::1 first; the check must go on to 127.0.0.1.
    assert build("tcp", host="localhost", port=listening_port).run(timeout=2).ok


def test_the_name_defaults_to_host_and_port(build: BuildCheck) -> None:
    assert build("tcp", port=5432).name == "tcp 127.0.0.1:5432"
    assert build("tcp", host="::1", port=5432).name == "tcp [::1]:5432"
    assert build("tcp", port=5432, name="postgres").name == "postgres"


def _problems(build: BuildCheck, **settings: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        build("tcp", **settings)
    return raised.value.problems


def test_a_missing_port_is_a_config_error_naming_the_key(build: BuildCheck) -> None:
    assert _problems(build) == ["services.api.health[0].port: required key is missing"]


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": "db"}, "port"),
        ({"port": 5432, "host": ""}, "host"),
        ({"port": 5432, "hostname": "db"}, "hostname"),
    ],
)
def test_invalid_settings_are_config_errors_naming_the_key(
    build: BuildCheck, settings: dict[str, Any], key: str
) -> None:
    problems = _problems(build, **settings)

    assert [p.split(": ")[0] for p in problems] == [f"services.api.health[0].{key}"]
