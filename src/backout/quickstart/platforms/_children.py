"""The real programs the platforms story runs (HAProxy, BIND, moto's server): each a plain child
process in the foreground, so its pid is ours, with its output in a log file of the workspace.

A program that is not installed is an UnavailableError naming the package to install, never a
bare "No such file or directory".
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backout.clock import wait_until
from backout.errors import UnavailableError

STOP_GRACE_S = 10.0


def require_program(program: str, install: str) -> str:
    """The path of `program` on the PATH; else an error saying how to install it."""
    found = shutil.which(program)
    if found is None:
        raise UnavailableError(
            f"the platforms quickstart needs `{program}`, which is not on the PATH",
            hint=install,
        )
    return found


@dataclass
class Child:
    """One started program: how to see that it died, read its log, and stop it."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_GRACE_S)


def start_child(
    name: str,
    argv: list[str],
    log: Path,
    ready: Callable[[], bool],
    *,
    timeout_s: float = 20.0,
    env: dict[str, str] | None = None,
) -> Child:
    """Start `argv` with its output in `log` and wait until `ready()`; a program that exits
    or is not ready in time is stopped and said so, with the end of its log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    child = Child(name, process, log)
    if not wait_until(lambda: not child.alive() or ready(), timeout_s, interval=0.05):
        child.stop()
        raise UnavailableError(
            f"{name} did not become ready in {timeout_s:g}s", hint=f"its log: {log}"
        )
    if not child.alive():
        raise UnavailableError(
            f"{name} exited with {process.returncode} at start:\n{child.log_tail()}",
            hint=f"its log: {log}",
        )
    return child
