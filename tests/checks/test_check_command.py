"""The `command` check running real programs."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backout.checks import Check
from backout.errors import ConfigError

BuildCheck = Callable[..., Check]


def test_a_command_that_exits_zero_passes(build: BuildCheck) -> None:
    result = build("command", command="true").run(timeout=5)

    assert result.ok
    assert result.expected == "exit 0"
    assert result.observed == "exit 0, no output"


def test_a_command_that_exits_non_zero_fails(build: BuildCheck) -> None:
    result = build("command", command="false").run(timeout=5)

    assert not result.ok
    assert result.observed == "exit 1, no output"


def test_the_last_line_of_output_is_reported(build: BuildCheck) -> None:
    result = build("command", command="sh -c 'echo hi; echo; echo there'").run(timeout=5)

    assert result.ok
    assert result.observed == "exit 0, last line 'there'"


def test_a_secret_the_output_quotes_never_reaches_the_sentence(build: BuildCheck) -> None:
    result = build("command", command="sh -c 'echo token=cmdsecret456; exit 3'").run(timeout=5)

    assert not result.ok
    assert "cmdsecret456" not in result.sentence()
    assert "last line 'token=***'" in result.sentence()


def test_stderr_counts_as_output(build: BuildCheck) -> None:
    result = build("command", command="sh -c 'echo disk full >&2; exit 2'").run(timeout=5)

    assert not result.ok
    assert result.observed == "exit 2, last line 'disk full'"


def test_the_command_may_be_a_list_and_is_not_run_by_a_shell(build: BuildCheck) -> None:
    result = build("command", command=["echo", "$HOME; exit 3"]).run(timeout=5)

    assert result.ok
    assert result.observed == "exit 0, last line '$HOME; exit 3'"


def test_expected_output_present_passes(build: BuildCheck) -> None:
    check = build("command", command="sh -c 'echo accepting connections'", expect_output="accept")

    result = check.run(timeout=5)

    assert result.ok
    assert result.expected == "exit 0, output contains 'accept'"


def test_expected_output_missing_fails_even_with_the_right_exit(build: BuildCheck) -> None:
    check = build("command", command="echo no response", expect_output="accepting")

    result = check.run(timeout=5)

    assert not result.ok
    assert result.observed == "exit 0, output lacks 'accepting', last line 'no response'"


def test_another_expected_exit_code_can_be_asked_for(build: BuildCheck) -> None:
    assert build("command", command="sh -c 'exit 3'", expect_exit=3).run(timeout=5).ok
    assert not build("command", command="true", expect_exit=3).run(timeout=5).ok


def test_a_missing_executable_is_a_failed_result(build: BuildCheck) -> None:
    result = build("command", command="no-such-program-4f2a --check").run(timeout=5)

    assert not result.ok
    assert result.observed == "command not found: no-such-program-4f2a"


def test_a_file_that_is_not_executable_is_a_failed_result(
    build: BuildCheck, tmp_path: Path
) -> None:
    (tmp_path / "health.sh").write_text("#!/bin/sh\necho ok\n")

    result = build("command", command="./health.sh").run(timeout=5)

    assert not result.ok
    assert result.observed == "not allowed to run ./health.sh (is it executable?)"


def test_it_runs_in_the_config_folder_by_default(build: BuildCheck, tmp_path: Path) -> None:
    result = build("command", command="pwd").run(timeout=5)

    assert result.observed == f"exit 0, last line {str(tmp_path)!r}"


def test_cwd_is_relative_to_the_config_folder(build: BuildCheck, tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    script = tmp_path / "app" / "health.sh"
    script.write_text("#!/bin/sh\npwd\n")
    script.chmod(0o755)

    result = build("command", command="./health.sh", cwd="app").run(timeout=5)

    assert result.ok
    assert result.observed == f"exit 0, last line {str(tmp_path / 'app')!r}"


def test_a_missing_cwd_is_a_failed_result(build: BuildCheck, tmp_path: Path) -> None:
    result = build("command", command="true", cwd="gone").run(timeout=5)

    assert not result.ok
    assert result.observed == f"working directory {tmp_path / 'gone'} does not exist"


def test_env_adds_variables(build: BuildCheck) -> None:
    check = build("command", command="sh -c 'echo $GREETING'", env={"GREETING": "hello"})

    assert check.run(timeout=5).observed == "exit 0, last line 'hello'"


def test_a_long_last_line_is_shortened(build: BuildCheck) -> None:
    result = build("command", command=[sys.executable, "-c", "print('x' * 500)"]).run(timeout=5)

    last = result.observed.removeprefix("exit 0, last line ")
    assert last == repr("x" * 119 + "…")


def test_a_command_killed_by_a_signal_says_which(build: BuildCheck) -> None:
    result = build("command", command="sh -c 'kill -TERM $$'").run(timeout=5)

    assert not result.ok
    assert result.observed == "killed by SIGTERM, no output"


def test_a_command_past_the_timeout_is_killed_and_fails(build: BuildCheck) -> None:
    result = build("command", command="sleep 30").run(timeout=0.3)

    assert not result.ok
    assert result.observed == "timed out after 300ms, no output"
    assert result.duration_s < 0.8


def test_children_that_hold_the_output_open_are_killed_too(
    build: BuildCheck, tmp_path: Path
) -> None:
    script = "echo started; sleep 30 & echo $! > sleeper.pid; wait"

    result = build("command", command=["sh", "-c", script]).run(timeout=0.5)

    assert result.observed == "timed out after 500ms, last line 'started'"
    assert result.duration_s < 1.0
    sleeper = int((tmp_path / "sleeper.pid").read_text())
    assert _ends_within(sleeper, seconds=2)


def _ends_within(pid: int, seconds: float) -> bool:
    """True once `pid` is gone or a zombie (dead, waiting for whoever reaps orphans)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def test_building_a_check_runs_nothing(build: BuildCheck, tmp_path: Path) -> None:
    check = build("command", command="touch ran")
    assert not (tmp_path / "ran").exists()

    check.run(timeout=5)

    assert (tmp_path / "ran").exists()


def test_the_name_defaults_to_the_command(build: BuildCheck) -> None:
    assert build("command", command="pg_isready -h db").name == "command pg_isready -h db"
    assert build("command", command=["sh", "-c", "echo hi"]).name == "command sh -c 'echo hi'"
    assert build("command", command="true", name="ready").name == "ready"
    assert len(build("command", command="echo " + "a" * 100).name) == len("command ") + 60


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ({}, "command", "required key is missing"),
        ({"command": "echo 'unclosed"}, "command", "cannot split into arguments"),
        ({"command": "  "}, "command", "the command is empty"),
        ({"command": []}, "command", "the command is empty"),
        ({"command": "true", "expect_exit": 256}, "expect_exit", "255"),
        ({"command": "true", "expect_output": ""}, "expect_output", "at least 1"),
        ({"command": "true", "shell": True}, "shell", "unknown key"),
    ],
)
def test_invalid_settings_are_config_errors_naming_the_key(
    build: BuildCheck, settings: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        build("command", **settings)

    [problem] = raised.value.problems
    where, _, message = problem.partition(": ")
    assert where == f"services.api.health[0].{key}"
    assert words in message
