"""Ending the servers a benchmark started, the way their users would."""

from __future__ import annotations

import subprocess

STOP_GRACE_S = 15


def stop_gracefully(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGTERM (a server ends its streams and stops), SIGKILL after STOP_GRACE_S."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
