"""How a `backout` process ends: every error one message and an exit code from `ExitCode`.

With `--json` the error is one object on stdout instead, so a pipeline parses every outcome the
same way: `{"error": {"message", "exit_code", "kind", "hint"}}`, where `kind` is the name of the
error's class (`UnknownServiceError`, `ConfigError` ...) or `UsageError` for a bad command line.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer import _click

from backout.cli import _common
from backout.errors import BackoutError, ExitCode
from backout.redact import install_log_redaction, redact, redact_optional

USAGE_ERROR_KIND = "UsageError"


def run_reporting_errors(app: typer.Typer, args: Sequence[str] | None = None) -> int:
    """Run `app` on `args` (default: the command line) and return the process's exit code."""
    argv = list(sys.argv[1:] if args is None else args)
    _log_warnings_to_stderr()
    try:
        # Not standalone: typer returns the code of a `typer.Exit` and raises its own errors
        # here, so that they are reported the same way as backout's. Typer carries its own
        # copy of click: `_click` is the one its errors come from.
        code = app(args=argv, standalone_mode=False)
    except BackoutError as error:
        return _report_backout_error(error, argv)
    except _click.exceptions.ClickException as error:
        return _report_usage_error(error, argv)
    except typer.Abort:
        _click.echo("Aborted!", file=sys.stderr)
        return int(ExitCode.FAILED)
    return int(code or ExitCode.OK)


def error_object(
    message: str, exit_code: int, kind: str, hint: str | None = None
) -> dict[str, Any]:
    """The one object `--json` prints on failure."""
    return {"error": {"message": message, "exit_code": exit_code, "kind": kind, "hint": hint}}


def _report_backout_error(error: BackoutError, argv: list[str]) -> int:
    code = int(error.exit_code)
    if _json_wanted(argv):
        _print_json(error_object(error.message, code, type(error).__name__, error.hint))
        return code
    from rich.markup import escape

    _common.err_console.print(
        f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
    )
    return code


def _report_usage_error(error: _click.exceptions.ClickException, argv: list[str]) -> int:
    if _json_wanted(argv) and not isinstance(error, _click.exceptions.NoArgsIsHelpError):
        hint = _usage_hint(error)
        message = redact(error.format_message())
        _print_json(error_object(message, error.exit_code, USAGE_ERROR_KIND, hint))
        return error.exit_code
    from typer import rich_utils

    rich_utils.rich_format_error(error)
    return error.exit_code


def _usage_hint(error: _click.exceptions.ClickException) -> str | None:
    context = getattr(error, "ctx", None)
    if context is None:
        return None
    return redact_optional(f"see: {context.command_path} --help")


def _json_wanted(argv: list[str]) -> bool:
    """`--json` was given: to the command that ran, or on a command line that did not parse."""
    if _common.json_requested():
        return True
    words = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in words


def _print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _log_warnings_to_stderr() -> None:
    install_log_redaction()
    to_stderr = logging.StreamHandler()
    to_stderr.setLevel(logging.WARNING)  # INFO goes to the log files of the commands that keep one
    to_stderr.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[to_stderr])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe request is noise
