"""Who is executing a run: host, pid and process start time, so a dead owner can be told apart."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_start_ticks(pid: int) -> str | None:
    """The start time of `pid` in clock ticks since boot (guards against pid reuse), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def current_owner() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{process_start_ticks(pid)}"


def owner_alive(owner: str | None) -> bool:
    """Whether the process named by `owner` still runs; an owner on another host counts as alive."""
    if not owner:
        return False
    host, pid, ticks = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return True  # we cannot see it; refuse rather than run a step twice
    return process_start_ticks(int(pid)) == ticks
