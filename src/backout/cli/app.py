"""The root `backout` command; every error backout raises becomes one message and an exit code."""

from __future__ import annotations

import logging
import sys

import typer
from rich.markup import escape

from backout.cli import (
    config_cmd,
    db_cmd,
    flags_cmd,
    incident_cmd,
    quickstart_cmd,
    release_cmd,
    rollback_cmd,
    runs_cmd,
    serve_cmd,
    status_cmd,
    token_cmd,
    watch_cmd,
)
from backout.cli._common import err_console
from backout.errors import BackoutError
from backout.redact import install_log_redaction

app = typer.Typer(
    name="backout",
    help="From a rollback trigger to a verified recovery and a written report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for module in (
    config_cmd,
    release_cmd,
    rollback_cmd,
    runs_cmd,
    status_cmd,
    watch_cmd,
    serve_cmd,
    token_cmd,
    incident_cmd,
    quickstart_cmd,
    db_cmd,
    flags_cmd,
):
    module.register(app)


def main() -> None:
    install_log_redaction()
    to_stderr = logging.StreamHandler()
    to_stderr.setLevel(logging.WARNING)  # INFO goes to the log files of the commands that keep one
    to_stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[to_stderr])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe request is noise
    try:
        # Standalone mode lets typer turn its own errors into exit codes: a usage error is 2,
        # `typer.Exit(n)` is n, an answered "no" is 1. Typer carries its own copy of click,
        # so catching `click.ClickException` here would miss them and print a traceback.
        app()
    except BackoutError as error:
        err_console.print(
            f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
        )
        sys.exit(int(error.exit_code))
