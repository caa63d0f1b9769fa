"""Who is executing a run: host, pid and process start time, so a dead owner can be told apart."""

from __future__ import annotations

import os
import socket
from pathlib import Path

_DEAD_STATES = frozenset({"Z", "X"})  # zombie (killed, not yet reaped by its parent), dead


def process_start_ticks(pid: int) -> str | None:
    """The start time of `pid` in clock ticks since boot (guards against pid reuse), or None
    when no such process runs any more."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in _DEAD_STATES:
        return None
    return fields[19]


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
