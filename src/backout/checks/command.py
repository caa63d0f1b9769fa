"""The `command` check: a program (no shell) must exit with the expected code and output.

The program runs in its own session, so on timeout the whole process group is killed: a
`sh -c` whose children still hold the output pipe cannot keep the check waiting.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from backout.checks.base import CheckResult, CheckSettings
from backout.durations import format_duration
from backout.registry import PluginContext

logger = logging.getLogger(__name__)

_LAST_LINE_CHARS = 120
_NAME_CHARS = 60
_KILL_GRACE_S = 0.5  # after SIGKILL the pipe closes at once unless a process left the group


def _argv(value: Any) -> Any:
    """A string is split like a shell would (quotes respected), but no shell runs it."""
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError as error:
            raise ValueError(f"cannot split into arguments ({error})") from None
    if isinstance(value, list | tuple) and not value:
        raise ValueError("the command is empty")
    if isinstance(value, list | tuple) and any("\0" in str(part) for part in value):
        raise ValueError("an argument contains a NUL character")
    return value


class CommandCheckSettings(CheckSettings):
    command: Annotated[tuple[str, ...], BeforeValidator(_argv)] = Field(
        description="The program and its arguments: a string split like a shell would "
        "(no shell runs it; write `sh -c '...'` for pipes), or a list."
    )
    expect_exit: int = Field(0, ge=0, le=255, description="The exit code that counts as up.")
    expect_output: str | None = Field(
        None, min_length=1, description="A text its output (stdout and stderr) must contain."
    )
    cwd: str | None = Field(
        None,
        description="Working directory, relative to the config file's folder (the default).",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment variables added to backout's own."
    )
    name: str | None = Field(
        None, min_length=1, description="Name in results; default like 'command pg_isready'."
    )


class CommandCheck:
    """Runs the command once and compares its exit code and output with the settings."""

    def __init__(self, settings: CommandCheckSettings, context: PluginContext) -> None:
        self._settings = settings
        self._cwd: Path = context.resolve(settings.cwd) if settings.cwd else context.base_dir
        self._name = settings.name or _default_name(settings.command)

    @property
    def name(self) -> str:
        return self._name

    @property
    def timeout(self) -> float:
        return self._settings.timeout.total_seconds()

    def run(self, timeout: float) -> CheckResult:
        started = time.monotonic()
        ok, observed = self._run(timeout)
        result = CheckResult(
            name=self._name,
            ok=ok,
            expected=self._expected(),
            observed=observed,
            duration_s=time.monotonic() - started,
        )
        logger.debug("%s", result.sentence())
        return result

    def _run(self, timeout: float) -> tuple[bool, str]:
        argv = self._settings.command
        if not self._cwd.is_dir():
            return False, f"working directory {self._cwd} does not exist"
        try:
            process = subprocess.Popen(
                argv,
                cwd=self._cwd,
                env={**os.environ, **self._settings.env} if self._settings.env else None,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except FileNotFoundError:
            return False, f"command not found: {argv[0]}"
        except PermissionError:
            return False, f"not allowed to run {argv[0]} (is it executable?)"
        except OSError as error:
            return False, f"cannot start {argv[0]}: {error.strerror or error}"
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            output = _kill(process)
            timed_out = f"timed out after {format_duration(timeout)}"
            return False, timed_out + _last_line_part(output)
        return self._judge(process.returncode, output)

    def _judge(self, code: int, output: bytes) -> tuple[bool, str]:
        text = output.decode("utf-8", errors="replace")
        expected_output = self._settings.expect_output
        lacks_output = expected_output is not None and expected_output not in text
        observed = _exit_description(code)
        if lacks_output:
            observed += f", output lacks {expected_output!r}"
        ok = code == self._settings.expect_exit and not lacks_output
        return ok, observed + _last_line_part(output)

    def _expected(self) -> str:
        expected = f"exit {self._settings.expect_exit}"
        if self._settings.expect_output is not None:
            expected += f", output contains {self._settings.expect_output!r}"
        return expected


def _kill(process: subprocess.Popen[bytes]) -> bytes:
    """Kill the command's process group and return what it wrote before it died."""
    with contextlib.suppress(ProcessLookupError):  # it may have ended on its own meanwhile
        os.killpg(process.pid, signal.SIGKILL)
    try:
        output, _ = process.communicate(timeout=_KILL_GRACE_S)
    except subprocess.TimeoutExpired as still_open:
        # A process that left the group still holds the pipe: stop reading it.
        output = still_open.output or b""
        if process.stdout is not None:
            process.stdout.close()
        process.wait()
    return output


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def _last_line_part(output: bytes) -> str:
    lines = [line.strip() for line in output.decode("utf-8", errors="replace").splitlines()]
    last = next((line for line in reversed(lines) if line), "")
    if not last:
        return ", no output"
    if len(last) > _LAST_LINE_CHARS:
        last = last[: _LAST_LINE_CHARS - 1] + "…"
    return f", last line {last!r}"


def _default_name(argv: tuple[str, ...]) -> str:
    text = shlex.join(argv)
    return "command " + (text if len(text) <= _NAME_CHARS else text[: _NAME_CHARS - 1] + "…")
