"""What every command shares: options, opening the runtime, rendering, the actor's name."""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from backout.errors import RefusedError
from backout.executor import StepEvent, StepState
from backout.runtime import Runtime

console = Console()
err_console = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Path to backout.yaml (default: $BACKOUT_CONFIG, then ./backout.yaml).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def log_decisions_to_stderr() -> None:
    """For the long-running commands: show backout's INFO lines (the watch loop's decisions)."""
    logging.getLogger("backout").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.INFO)


def actor() -> str:
    """Who is acting, as recorded in the audit log and on incident timelines."""
    return os.environ.get("BACKOUT_ACTOR") or f"{getpass.getuser()}@cli"


@contextmanager
def runtime(config: Path | None) -> Iterator[Runtime]:
    rt = Runtime.open(config)
    try:
        yield rt
    finally:
        rt.close()


def say(line: str) -> None:
    """Print one line on stdout as plain text, unwrapped.

    Names, versions and error messages come from users and platforms; a `[/x]` in one must
    print as itself, not be taken for rich markup (which would crash the command).
    """
    console.print(line, markup=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=escape(title), title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    console.print(table)


_MARKS = {
    StepState.RUNNING: "[cyan]→[/]",
    StepState.SUCCEEDED: "[green]✓[/]",
    StepState.SKIPPED: "[yellow]-[/]",
    StepState.FAILED: "[red]✗[/]",
    StepState.PENDING: "[magenta]⏸[/]",
}


def show_step(event: StepEvent) -> None:
    """Print a step's progress as it happens."""
    line = f"  {_MARKS[event.state]} {event.position}/{event.total} {escape(event.title)}"
    if event.message:
        line += f" [dim]— {escape(event.message)}[/]"
    err_console.print(line, highlight=False, soft_wrap=True)


def confirm(yes: bool, question: str) -> None:
    """Ask before a change; with no one at a terminal, refuse unless --yes was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise RefusedError(
            "this change needs confirmation", hint="pass --yes when no one can answer a prompt"
        )
    if not typer.confirm(question):
        raise typer.Abort


def parse_moment(text: str | None, option: str = "--to-time") -> datetime | None:
    """An ISO 8601 time; one without a zone is this machine's local time."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint=option) from None
    return moment if moment.tzinfo else moment.astimezone()
