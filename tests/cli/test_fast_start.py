"""The CLI answers at once because each command imports only what it uses.

Checked on the real console script, by the modules it has imported when it exits
(`python -X importtime` shows where their time goes, but misses what `importlib` loads): `--help` imports no command module and no part of the core; `status` and
`flags disable` do not import the executor, Alembic, a PostgreSQL driver (nor SQLAlchemy's
PostgreSQL dialect), an HTTP client, a plug-in their config does not use or the ORM. The root's listing of the commands is checked against the
modules that register them. The program starts with the cyclic garbage collector off, and a
command runs with it on. Speed itself is measured by benchmarks/cli.py, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import typer.main

from backout.cli.app import COMMANDS, app, load_module_commands
from tests.cli.conftest import BACKOUT, COMMAND_TIMEOUT_S

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

_MODULES_MARK = "\nMODULES "
_COLLECTOR_MARK = "\nCOLLECTING "
# The console script run as itself, then the names of the modules it imported on stderr, and
# whether the garbage collector is on.
_LIST_MODULES_AT_EXIT = f"""
import atexit, gc, json, runpy, sys
atexit.register(lambda: sys.stderr.write({_COLLECTOR_MARK!r} + json.dumps(gc.isenabled())))
atexit.register(lambda: sys.stderr.write({_MODULES_MARK!r} + json.dumps(sorted(sys.modules))))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
# What a command that reads or flips a row of the state store must never pay for.
NEVER_FOR_A_READ = (
    "backout.runs.executor",
    "backout.steps",
    "backout.db",
    "backout.controller.watch",
    "backout.web",
    "backout.checks.http",
    "backout.drivers.git_build",
    "backout.flags.unleash",
    "backout.flags.evaluation",
    "alembic",
    "psycopg",
    "httpx",
    "fastapi",
    "sqlalchemy.dialects.postgresql",  # on SQLite: imported to check a partial index's where
)
# backout's consoles print `:fire:` as itself (`--help` is typer's: it has the table of codes).
EMOJI_CODES = ("rich._emoji_codes",)
# The ORM: its import and the mapping of backout's classes took a third of a second. A command
# that reads rows, or records a flag change, uses Core statements on store/tables.py.
THE_ORM = ("sqlalchemy.orm", "backout.store.models", "backout.releases", "backout.runs")


def imported_modules(backout: Backout, *args: str) -> set[str]:
    """Every module `backout ARGS` imported, read from `sys.modules` as the process exits 0,
    on a state store already created (creating it runs the migrations, once)."""
    listed = _exiting(backout, *args).rsplit(_MODULES_MARK, 1)[1].split(_COLLECTOR_MARK)[0]
    return set(json.loads(listed))


def collecting_at_exit(backout: Backout, *args: str) -> bool:
    """Whether the cyclic garbage collector was on as `backout ARGS` exited 0."""
    return bool(json.loads(_exiting(backout, *args).rsplit(_COLLECTOR_MARK, 1)[1]))


def _exiting(backout: Backout, *args: str) -> str:
    """The stderr of `backout ARGS` run as the console script, with what it says at exit."""
    with backout.runtime():
        pass
    done = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES_AT_EXIT, str(BACKOUT), *args],
        cwd=backout.config.parent,
        env=backout.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def offending(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


def test_help_imports_no_command_and_no_part_of_the_core(backout: Backout) -> None:
    modules = imported_modules(backout, "--help")

    assert "backout.cli.app" in modules
    commands = sorted(m for m in modules if m.startswith("backout.cli.") and m.endswith("_cmd"))
    assert commands == []
    core = ("backout.runtime", "backout.config", "backout.store", "sqlalchemy", "pydantic")
    assert offending(modules, core + NEVER_FOR_A_READ) == []


def test_status_imports_neither_the_executor_nor_what_its_config_does_not_use(
    backout: Backout,
) -> None:
    modules = imported_modules(backout, "status", "--config", str(backout.config))

    assert "backout.cli.status_cmd" in modules
    assert offending(modules, NEVER_FOR_A_READ) == []
    assert offending(modules, ("backout.cli.rollback_cmd", "backout.cli.db_cmd")) == []


def test_status_reads_rows_without_the_orm(backout: Backout) -> None:
    """status reads the store's tables with Core queries: the ORM and backout's ORM classes
    (a tenth of a second at start) are not imported, nor are the modules that work with them."""
    modules = imported_modules(backout, "status", "--config", str(backout.config))

    assert "backout.store.tables" in modules
    assert offending(modules, THE_ORM + EMOJI_CODES) == []


def test_the_kill_switch_imports_neither_the_executor_nor_the_flag_engine(
    backout: Backout,
) -> None:
    with_kill_switch_flag(backout)
    argv = ("flags", "disable", "new-checkout", "--reason", "500s", "--config")
    modules = imported_modules(backout, *argv, str(backout.config))

    assert "backout.flags.builtin" in modules
    assert offending(modules, NEVER_FOR_A_READ) == []


def test_the_kill_switch_records_its_change_without_the_orm(backout: Backout) -> None:
    """The change, its audit entry and the check for open incidents are Core statements; the
    incidents room (ORM) is imported only to write on the timeline of an open incident."""
    with_kill_switch_flag(backout)
    argv = ("flags", "disable", "new-checkout", "--reason", "500s", "--config")
    modules = imported_modules(backout, *argv, str(backout.config))

    assert "backout.actions.flag_changes" in modules
    assert offending(modules, (*THE_ORM, *EMOJI_CODES, "backout.incidents")) == []


def with_kill_switch_flag(backout: Backout) -> None:
    backout.config.write_text(
        backout.config.read_text(encoding="utf-8")
        + "flags:\n  definitions:\n    new-checkout: {description: the new checkout}\n",
        encoding="utf-8",
    )


@pytest.mark.parametrize(
    "argv",
    [("status",), ("flags", "disable", "new-checkout", "--reason", "500s")],
    ids=["status", "flags disable"],
)
def test_a_command_runs_with_the_garbage_collector_on(
    backout: Backout, argv: tuple[str, ...]
) -> None:
    """The program starts with the collector off (a tenth of its start); the command itself,
    which may run for days (`serve`, `watch`), must collect."""
    with_kill_switch_flag(backout)

    assert collecting_at_exit(backout, *argv, "--config", str(backout.config))


def test_help_leaves_the_collector_off_as_it_runs_no_command(backout: Backout) -> None:
    """The other side of the test above: the program does start with the collector off."""
    assert not collecting_at_exit(backout, "--help")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_root_lists_each_command_with_the_help_of_the_module_that_registers_it(
    name: str,
) -> None:
    command = load_module_commands(COMMANDS[name].module).get_command(None, name)

    assert command is not None, f"{COMMANDS[name].module} registers no command {name!r}"
    assert command.get_short_help_str(limit=1000) == COMMANDS[name].short_help


def test_every_command_a_module_registers_is_listed_by_the_root() -> None:
    modules = {entry.module for entry in COMMANDS.values()}
    registered = {
        (name, module)
        for module in modules
        for name in load_module_commands(module).list_commands(None)
    }

    assert registered == {(name, entry.module) for name, entry in COMMANDS.items()}


def test_the_root_runs_a_command_it_loaded_on_demand() -> None:
    root = typer.main.get_command(app)

    assert root.get_command(None, "status") is not None
    assert root.get_command(None, "no-such-command") is None
