"""What every command shares: options, opening the runtime, rendering, the actor's name."""

from __future__ import annotations

import gc
import getpass
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from backout.cli import resume_collector
from backout.errors import ConfigError, ConfirmationRequiredError, NotConfirmedError
from backout.limits import (
    MAX_ACTOR_CHARS,
    MAX_REASON_CHARS,
    MAX_REF_CHARS,
    MAX_TOKEN_NAME_CHARS,
    MAX_VERSION_CHARS,
)

if TYPE_CHECKING:
    # Only for the annotations: a command that does not open the runtime or run steps (`--help`,
    # `init`) must not pay for importing them.
    from backout.runs.records import StepEvent
    from backout.runtime import Runtime

# No emoji codes: backout prints names and messages that come from users and platforms, where a
# `:fire:` must print as itself; and the table of emoji codes took 20 ms of every start.
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Path to backout.yaml (default: $BACKOUT_CONFIG, then ./backout.yaml).",
        show_default=False,
    ),
]
# Whether the command that runs was given `--json`: its errors are then printed as JSON too.
_json_requested: set[bool] = set()


def _remember_json(value: bool) -> bool:
    if value:
        _json_requested.add(value)
    return value


def json_requested() -> bool:
    """Whether the command that runs was given `--json` (its errors are then JSON too)."""
    return bool(_json_requested)


JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print JSON instead of a table (and, on failure, one JSON error object).",
        callback=_remember_json,
    ),
]


DbArg = Annotated[
    str, typer.Argument(help="The database, as named under databases: in backout.yaml.")
]


def bounded_reason(value: str | None) -> str | None:
    """A `--reason` is stored on the run and every timeline it reaches: bounded as the API's."""
    if value is not None and len(value) > MAX_REASON_CHARS:
        raise typer.BadParameter(f"at most {MAX_REASON_CHARS:,} characters, got {len(value):,}")
    return value


def bounded_version(value: str | None) -> str | None:
    """A version names one artifact in every record, table and message: a short word."""
    return _one_word(value, "a version", MAX_VERSION_CHARS)


def bounded_ref(value: str | None) -> str | None:
    """A ref may be a folder (`--ref "/srv/builds/My App 2.1"`): spaces are allowed in it."""
    if value is not None and not value.strip():
        raise typer.BadParameter("a ref is 1 to 512 characters, got none")
    return _bounded(value, "a ref", MAX_REF_CHARS, spaces=True)


def bounded_token_name(value: str) -> str:
    return _one_word(value, "a token's name", MAX_TOKEN_NAME_CHARS) or value


def _one_word(value: str | None, what: str, most: int) -> str | None:
    return _bounded(value, what, most, spaces=False)


def _bounded(value: str | None, what: str, most: int, *, spaces: bool) -> str | None:
    if value is None:
        return None
    if not value or len(value) > most:
        raise typer.BadParameter(f"{what} is 1 to {most:,} characters, got {len(value):,}")
    if any((c.isspace() and not (spaces and c == " ")) or not c.isprintable() for c in value):
        refused = "control character" if spaces else "space or control character"
        raise typer.BadParameter(f"{what} has no {refused}: {value!r}")
    return value


def log_decisions_to_stderr() -> None:
    """For the long-running commands: show backout's INFO lines (the watch loop's decisions)."""
    logging.getLogger("backout").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.INFO)


def actor() -> str:
    """Who is acting, as recorded in the audit log and on incident timelines."""
    given = os.environ.get("BACKOUT_ACTOR")
    if given and (len(given) > MAX_ACTOR_CHARS or not given.isprintable()):
        raise ConfigError(
            "BACKOUT_ACTOR",
            [f"BACKOUT_ACTOR: expected 1 to {MAX_ACTOR_CHARS} printable characters (who acts)"],
            hint="set it to a name or an e-mail address, or unset it to use USER@cli",
        )
    return given or f"{getpass.getuser()}@cli"


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a command starts, and resumed after.

    Importing a command's modules and opening the runtime create a few hundred thousand
    long-lived objects and no garbage, which the collector (run every 700 allocations) would
    walk again and again: a tenth of the start of `backout status`.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        resume_collector()


@contextmanager
def runtime(config: Path | None) -> Iterator[Runtime]:
    with collector_paused():
        from backout.runtime import Runtime

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


# By the value of each `StepState` (a StrEnum), so that this module need not import the runs.
_MARKS = {
    "running": "[cyan]→[/]",
    "succeeded": "[green]✓[/]",
    "skipped": "[yellow]-[/]",
    "failed": "[red]✗[/]",
    "pending": "[magenta]⏸[/]",
}


def show_step(event: StepEvent) -> None:
    """Print a step's progress as it happens."""
    line = f"  {_MARKS[event.state]} {event.position}/{event.total} {escape(event.title)}"
    if event.message:
        line += f" [dim]— {escape(event.message)}[/]"
    err_console.print(line, highlight=False, soft_wrap=True)


def confirm(yes: bool, question: str) -> None:
    """Ask before a change; with no one at a terminal, refuse unless --yes was given.

    Every command that asks ends the same way when it gets no "yes": exit 9, nothing changed.
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRequiredError(
            f"this change needs confirmation ({question}) and no one can answer a prompt here;"
            " nothing was changed",
            hint="pass --yes when no one can answer a prompt",
        )
    if not typer.confirm(question):
        raise NotConfirmedError(f"not confirmed ({question}): nothing was changed")


def parse_moment(text: str | None, option: str = "--to-time") -> datetime | None:
    """An ISO 8601 time; one without a zone is this machine's local time."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint=option) from None
    return moment if moment.tzinfo else moment.astimezone()


def human_size(size: int | None) -> str:
    """Bytes as a person reads them, rounded down to whole units: 512 B, 3 KiB, 1 GiB."""
    if size is None:
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}"
        size //= 1024
    return f"{size} TiB"
