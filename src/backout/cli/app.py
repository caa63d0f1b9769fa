"""The root `backout` command; every error backout raises becomes one message and an exit code.

The root loads only the module of the command it runs (`backout status` never imports the
executor, `backout --help` imports no command module at all): importing them all took seconds
before the first line was printed. `COMMANDS` says which module registers each command and its
one-line help for the root's `--help`; a test checks that both match the modules.
"""

from __future__ import annotations

import functools
import gc
import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer
import typer.core
import typer.main
from typer import _click

from backout.cli import resume_collector


@dataclass(frozen=True)
class CommandEntry:
    """A top-level command: the `backout.cli` module that registers it, and its short help."""

    module: str
    short_help: str


COMMANDS: dict[str, CommandEntry] = {
    "init": CommandEntry("config_cmd", "Write a commented starter backout.yaml."),
    "check": CommandEntry(
        "config_cmd",
        "Validate a config file and every plug-in section in it; list every problem found.",
    ),
    "deploy": CommandEntry(
        "release_cmd",
        "Deploy VERSION of SERVICE through its driver, check its health, and record it live.",
    ),
    "releases": CommandEntry("release_cmd", "The release history of SERVICE, newest first."),
    "rollback": CommandEntry(
        "rollback_cmd",
        "Roll SERVICE back to its last known good version (or --to VERSION), step by step.",
    ),
    "trigger": CommandEntry(
        "trigger_cmd",
        "Fire SERVICE's security trigger (--security ID): record the advisory, apply the policy.",
    ),
    "runs": CommandEntry("runs_cmd", "List runs (rollbacks and deploys), newest first."),
    "resume": CommandEntry("runs_cmd", "Finish every run a crashed process left unfinished."),
    "abort": CommandEntry(
        "runs_cmd",
        "Abort a run where it stands and free its service; steps already done stay done.",
    ),
    "approve": CommandEntry(
        "runs_cmd", "Approve a run waiting at its gate, and carry it on in this process."
    ),
    "status": CommandEntry(
        "status_cmd", "Services, live version, last known good, open incidents and active runs."
    ),
    "stop": CommandEntry(
        "status_cmd",
        "Stop SERVICE gracefully (SIGTERM, then SIGKILL after its stop_timeout); recorded.",
    ),
    "watch": CommandEntry(
        "watch_cmd",
        "Watch every service's triggers; roll back, ask, or notify as each policy says.",
    ),
    "serve": CommandEntry(
        "serve_cmd", "Serve the REST API (OpenAPI docs at /docs) and run the watch loop."
    ),
    "incidents": CommandEntry(
        "incident_cmd", "List incidents, newest first, with time to detect and to recover."
    ),
    "quickstart": CommandEntry(
        "quickstart_cmd",
        "Deploy a good and a bad release of the demo app; watch backout detect and roll back.",
    ),
    "release": CommandEntry("release_cmd", "Record releases and give them a verdict."),
    "run": CommandEntry("runs_cmd", "Inspect one run."),
    "token": CommandEntry("token_cmd", "API tokens for `backout serve`."),
    "incident": CommandEntry("incident_cmd", "Inspect one incident, or add to it."),
    "db": CommandEntry("db_cmd", "PostgreSQL: backups, integrity, migrations."),
    "flags": CommandEntry("flags_cmd", "Feature flags: the kill switch and gradual exposure."),
    "dns": CommandEntry("dns_cmd", "DNS records: record their targets, show them."),
    "infra": CommandEntry(
        "infra_cmd", "Infrastructure stacks: record the variables applied, show them."
    ),
    "notify": CommandEntry(
        "notify_cmd", "Notifications: send what is queued (for cron), test a channel."
    ),
}


def load_module_commands(module_name: str) -> typer.core.TyperGroup:
    """The commands one `backout.cli` module registers, as a click group (imports the module)."""
    from backout.cli._common import collector_paused

    with collector_paused():
        module = importlib.import_module(f"backout.cli.{module_name}")
    commands = typer.Typer()
    module.register(commands)
    group = typer.main.get_group(commands)
    collecting_when_run(group)
    return group


def collecting_when_run(command: _click.Command) -> None:
    """Have `command` (each command of a group) switch the cyclic garbage collector on as it
    begins: the `backout` program starts without it (`backout.cli.main`)."""
    if isinstance(command, typer.core.TyperGroup):
        for subcommand in command.commands.values():
            collecting_when_run(subcommand)
    elif command.callback is not None:
        command.callback = _with_collector(command.callback)


def _with_collector(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def collecting(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled():  # the program's start (a test's process collects throughout)
            resume_collector()
        return callback(*args, **kwargs)

    return collecting


class LazyCommands(typer.core.TyperGroup):
    """The root group: lists `COMMANDS` from the table, imports a module only to run one."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        self._loaded: dict[str, typer.core.TyperGroup] = {}

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if self._listing:
            return typer.core.TyperCommand(cmd_name, short_help=entry.short_help)
        if entry.module not in self._loaded:
            self._loaded[entry.module] = load_module_commands(entry.module)
        return self._loaded[entry.module].get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        # Typer suggests close names from `self.commands`, which the table stands in for.
        self.commands = {name: typer.core.TyperCommand(name) for name in COMMANDS}
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        with self._listing_only():
            super().format_help(ctx, formatter)

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False


app = typer.Typer(
    name="backout",
    cls=LazyCommands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root() -> None:
    """From a rollback trigger to a verified recovery and a written report."""


def main() -> None:
    from backout.cli._errors import run_reporting_errors

    sys.exit(run_reporting_errors(app))
