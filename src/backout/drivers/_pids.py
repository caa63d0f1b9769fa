"""What the operating system says about processes and ports, for the process-based drivers.

A pid is trusted only together with the process's start time (field 22 of /proc/<pid>/stat):
after a process dies its pid may be given to another, and backout must never report or kill
that other process. Without /proc (macOS) liveness falls back to `kill(pid, 0)`, unguarded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backout.errors import DriverError

POLL_INTERVAL = 0.02
_HAS_PROC = Path("/proc/self/stat").exists()
# Popen objects of the services this very process started, kept so that they are reaped
# (no zombies) when they exit and Popen never warns about a child still running.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def track_child(popen: subprocess.Popen[bytes]) -> None:
    """Keep `popen` until its process exits, so that it gets reaped."""
    _CHILDREN[popen.pid] = popen


def start_ticks(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot; None when unknown."""
    stat = _read_stat(pid)
    return None if stat is None else stat.start_ticks


def is_alive(pid: int, started: int | None) -> bool:
    """True when `pid` runs and is the process that started at `started` (not a reused pid)."""
    _reap_if_child(pid)
    if not _HAS_PROC:
        return _signal_reaches(lambda: os.kill(pid, 0))
    stat = _read_stat(pid)
    if stat is None or stat.state == "Z":
        return False
    return started is None or stat.start_ticks == started


def group_is_ours(pgid: int, started: int | None) -> bool:
    """False when the leader's pid now belongs to another process: our group is long gone.

    Linux never reuses a pid while a process group of that id exists, so a leader that has
    exited (no /proc entry, or a zombie) leaves only its own group's processes with that id.
    """
    _reap_if_child(pgid)
    stat = _read_stat(pgid) if _HAS_PROC else None
    return stat is None or started is None or stat.start_ticks == started


def group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process belongs to process group `pgid`."""
    _reap_if_child(pgid)
    if not _HAS_PROC:
        return _signal_reaches(lambda: os.killpg(pgid, 0))
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _read_stat(int(entry.name))
            if stat is not None and stat.pgrp == pgid and stat.state != "Z":
                return True
    return False


def signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise DriverError(
            f"not allowed to send {signum.name} to process group {pgid}",
            hint="run backout as the user that started the service",
        ) from None


def describe_exit(code: int) -> str:
    """A Popen return code in words."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


def port_is_free(port: int) -> bool:
    """True when nothing listens on `port` (an address in TIME_WAIT does not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - the wildcard conflicts with any listener
        except OSError:
            return False
    return True


def port_is_listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class _ProcStat:
    state: str
    pgrp: int
    start_ticks: int


def _read_stat(pid: int) -> _ProcStat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name in (...) may hold spaces
    return _ProcStat(state=fields[0], pgrp=int(fields[2]), start_ticks=int(fields[19]))


def _signal_reaches(send: Callable[[], None]) -> bool:
    try:
        send()
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_exited_children() -> None:
    """Collect every service process this process started that has exited since: one stopped
    by another process (`backout stop`) is otherwise a zombie until this one ends."""
    for pid in list(_CHILDREN):
        _reap_if_child(pid)


def _reap_if_child(pid: int) -> None:
    popen = _CHILDREN.get(pid)
    if popen is not None and popen.poll() is not None:
        _CHILDREN.pop(pid, None)  # another thread may have reaped it meanwhile
