"""The root `backout` command: the README's commands and exit codes are the real ones; usage
errors exit 2 and an unreachable state store exits 8, each as a message, never a traceback;
the config is found by --config, then $BACKOUT_CONFIG, then ./backout.yaml."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from backout.cli.app import app
from backout.errors import ExitCode

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

README = Path(__file__).parents[2] / "README.md"
USAGE = 2
UNAVAILABLE = 8
NOWHERE = "postgresql://nobody@127.0.0.1:1/x"


def readme_command_lines() -> list[str]:
    """Each `backout ...` command of the README's tour, comments dropped, `;` split."""
    tour = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    commands = []
    for line in "".join(tour).splitlines():
        for command in line.split(";"):
            words = shlex.split(command, comments=True)
            if words[:1] == ["backout"]:
                commands.append(shlex.join(words))
    return commands


def test_the_readme_lists_exactly_the_exit_codes_backout_returns() -> None:
    documented = re.findall(r"^\| (\d+) \| (.+) \|$", README.read_text(encoding="utf-8"), re.M)

    assert [int(code) for code, _ in documented] == [int(code) for code in ExitCode]


@pytest.mark.parametrize("command", readme_command_lines())
def test_each_command_of_the_readme_tour_parses(command: str) -> None:
    # In-process and with --help: proves each command and option exists, runs nothing.
    result = CliRunner().invoke(app, [*shlex.split(command)[1:], "--help"])

    assert result.exit_code == 0, result.output


def test_help_lists_the_commands(backout: Backout) -> None:
    helped = backout.bare("--help")

    assert helped.code == 0, helped
    for command in ("rollback", "approve", "incidents", "token", "quickstart"):
        assert command in helped.stdout


def test_no_command_prints_the_usage_and_exits_2(backout: Backout) -> None:
    result = backout.bare()

    assert result.code == USAGE, result
    assert "Usage: backout" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_option_is_a_usage_error(backout: Backout) -> None:
    backout("status", "--colour").refused(USAGE, "No such option: --colour")


def test_a_missing_argument_is_a_usage_error(backout: Backout) -> None:
    backout("run", "show").refused(USAGE, "Missing argument")
    backout("rollback").refused(USAGE, "name the service(s) to roll back, or give --all")


def test_an_argument_of_the_wrong_type_is_a_usage_error(backout: Backout) -> None:
    backout("run", "show", "seven").refused(USAGE, "run_id")


def test_an_unreachable_postgresql_state_store_exits_8_with_a_message(backout: Backout) -> None:
    config = backout.config.with_name("team.yaml")
    config.write_text(
        backout.config.read_text(encoding="utf-8").replace(
            "sqlite:///.backout/state.db", f'"{NOWHERE}"'
        ),
        encoding="utf-8",
    )

    backout.at(config)("status").refused(
        UNAVAILABLE,
        "state store postgresql+psycopg://nobody@127.0.0.1:1/x is not reachable",
        "check state.database in backout.yaml or BACKOUT_DATABASE_URL",
    )


def test_backout_database_url_replaces_the_configured_state_store(backout: Backout) -> None:
    backout.with_env(BACKOUT_DATABASE_URL=NOWHERE)("releases", "api").refused(
        UNAVAILABLE, "127.0.0.1:1/x is not reachable"
    )


def test_backout_config_names_the_config_when_no_option_does(
    backout: Backout, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    program = backout.with_env(BACKOUT_CONFIG=str(backout.config))

    recorded = program.bare("release", "record", "api", "1.0.0", cwd=elsewhere)

    assert recorded.code == 0, recorded
    # sqlite paths in the config are relative to the config file, not to the current folder
    assert (tmp_path / ".backout" / "state.db").exists()
    assert not (elsewhere / ".backout").exists()
    assert backout.history()[0]["version"] == "1.0.0"


def test_the_config_option_wins_over_backout_config(backout: Backout, tmp_path: Path) -> None:
    program = backout.with_env(BACKOUT_CONFIG=str(tmp_path / "missing.yaml"))

    assert program("check").code == 0


def test_a_state_folder_that_cannot_be_created_is_a_message(backout: Backout) -> None:
    # The state database under a path whose parent is a file: the folder cannot be made.
    backout.with_env(BACKOUT_DATABASE_URL=f"sqlite:///{backout.config}/state.db")("status").refused(
        UNAVAILABLE, str(backout.config)
    )


@pytest.mark.postgres
def test_a_postgresql_state_store_serves_every_command(
    backout: Backout, postgres_url: str, tmp_path: Path
) -> None:
    team = backout.with_env(BACKOUT_DATABASE_URL=postgres_url)
    team.ok("release", "record", "api", "1.0.0", "--status", "good")
    team.ok("release", "record", "api", "1.1.0")

    rolled_back = team("rollback", "api", "--yes")

    assert rolled_back.code == 0, rolled_back
    assert team.ok("status", "--json").json()[0]["live_version"] == "1.0.0"
    assert not (tmp_path / ".backout" / "state.db").exists()
