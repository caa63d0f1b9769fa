"""`--json` holds on failure too: every command that takes it prints one JSON object on stdout,
`{"error": {"message", "exit_code", "kind", "hint"}}`, and exits with that code.

The commands are found by walking the real command tree, so that a command added later with a
`--json` option is checked without anyone listing it here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import typer.main
from typer.core import TyperCommand, TyperGroup

from backout.cli.app import app
from backout.errors import ExitCode

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.cli.conftest import Backout, Result


def leaf_commands(
    group: TyperGroup, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], TyperCommand]]:
    for name in group.list_commands(None):
        command = group.get_command(None, name)
        assert command is not None, name
        if isinstance(command, TyperGroup):
            yield from leaf_commands(command, (*path, name))
        else:
            yield (*path, name), command


def options_of(command: TyperCommand) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


def required_words(command: TyperCommand) -> list[str]:
    """A value for each required argument and option: "1" reads as a name, an id or a percent."""
    words: list[str] = []
    for param in command.params:
        if not param.required:
            continue
        if param.param_type_name == "option":
            words.append(param.opts[0])
        words.append("1")
    return words


JSON_COMMANDS = {
    " ".join(path): command
    for path, command in leaf_commands(typer.main.get_command(app))
    if "--json" in options_of(command)
}


def the_error_object(result: Result) -> dict[str, Any]:
    """The one JSON object a failed `--json` command printed, checked against its exit code."""
    assert result.code != 0, result
    assert "Traceback" not in result.stderr, result
    body = json.loads(result.stdout)  # the whole of stdout is one object
    assert list(body) == ["error"], result
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "exit_code", "kind", "hint"}, result
    assert error["exit_code"] == result.code, result
    assert error["exit_code"] in {int(code) for code in ExitCode}, result
    assert isinstance(error["message"], str), result
    assert error["message"], result
    assert isinstance(error["kind"], str), result
    assert error["kind"], result
    assert error["hint"] is None or isinstance(error["hint"], str), result
    return error


def test_the_walk_finds_the_commands_that_take_json() -> None:
    # A floor, not the list: the listing and show commands of every group take --json.
    assert {"status", "runs", "run show", "flags list", "db backups"} <= set(JSON_COMMANDS)


@pytest.mark.parametrize("command", sorted(JSON_COMMANDS))
def test_a_command_line_that_does_not_parse_is_a_json_usage_error(
    backout: Backout, command: str
) -> None:
    words = [*command.split(), *required_words(JSON_COMMANDS[command])]

    error = the_error_object(backout.bare(*words, "--json", "--no-such-option"))

    assert error["kind"] == "UsageError"
    assert error["exit_code"] == ExitCode.USAGE
    assert "--no-such-option" in error["message"]


@pytest.mark.parametrize("command", sorted(JSON_COMMANDS))
def test_a_missing_config_file_is_a_json_error(
    backout: Backout, tmp_path: Path, command: str
) -> None:
    if "--config" not in options_of(JSON_COMMANDS[command]):
        pytest.skip(f"{command} reads no config file")
    missing = tmp_path / "nowhere" / "backout.yaml"
    words = [*command.split(), *required_words(JSON_COMMANDS[command])]

    error = the_error_object(backout.bare(*words, "--json", "--config", str(missing)))

    # A command checks its own options before it reads the config: either is a clear answer.
    assert error["kind"] in {"ConfigError", "UsageError"}, error
    if error["kind"] == "ConfigError":
        assert error["exit_code"] == ExitCode.INVALID_CONFIG
        assert str(missing) in error["message"]


def test_an_unknown_service_names_the_known_ones_in_the_hint(backout: Backout) -> None:
    error = the_error_object(backout("rollback", "nosuch", "--yes", "--json"))

    assert error == {
        "message": "unknown service 'nosuch'",
        "exit_code": ExitCode.NOT_FOUND,
        "kind": "UnknownServiceError",
        "hint": "services in the config: api, web",
    }


def test_a_change_no_one_confirmed_is_a_json_error_with_exit_9(live_api: Backout) -> None:
    error = the_error_object(live_api("rollback", "api", "--json"))

    assert error["kind"] == "ConfirmationRequiredError"
    assert error["exit_code"] == ExitCode.NOT_CONFIRMED == 9
    assert error["hint"] == "pass --yes when no one can answer a prompt"


def test_without_json_the_error_is_a_message_on_stderr(backout: Backout) -> None:
    result = backout("rollback", "nosuch", "--yes")

    result.refused(ExitCode.NOT_FOUND, "error: unknown service 'nosuch'")
    assert result.stdout == ""
