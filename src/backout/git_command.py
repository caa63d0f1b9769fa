"""Running `git` the one way backout does: never prompting, in English, errors as backout's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from backout.errors import StepFailedError

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}  # never ask for a password; parse English


def run_git(
    *args: str, cwd: Path | None = None, error: type[StepFailedError] = StepFailedError
) -> subprocess.CompletedProcess[str]:
    """`git ARGS` in `cwd`, its output captured; `error` when git is not installed."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env={**os.environ, **GIT_ENV},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise error("git is not installed", hint="install git (e.g. apt-get install git)") from None
