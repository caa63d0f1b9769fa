"""Where a restore's seconds go: every program backout runs, timed while a block of code runs.

backout runs pgbackrest, pg_ctl, pg_waldump and pg_controldata through one function,
`backout.db.cluster.run_tool`; `tool_calls()` wraps it for the length of a `with` block and adds
up the seconds per program and verb ("pgbackrest info", "pg_ctl start"); `timed_function()`
does the same for any other function. Instrumentation only: the wrapper calls the real function
with the same arguments.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backout.db import cluster

_VERB_PROGRAMS = {"pgbackrest", "pg_ctl"}


@dataclass
class ToolCalls:
    """Seconds per program run (summed over repeated calls), and each one's last command line."""

    seconds: dict[str, float] = field(default_factory=dict)
    argv: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, seconds: float, argv: list[str]) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        if argv:
            self.argv[name] = argv

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def label(argv: Sequence[str]) -> str:
    """'pgbackrest restore', 'pg_ctl start', 'pg_waldump': the program, and its verb if any."""
    program = Path(argv[0]).name
    if program not in _VERB_PROGRAMS:
        return program
    verb = next((word for word in argv[1:] if not word.startswith("-")), "")
    return f"{program} {verb}".strip()


@contextmanager
def tool_calls() -> Iterator[ToolCalls]:
    """Time every program backout runs inside the block."""
    calls = ToolCalls()
    with timed_function(calls, cluster, "run_tool"):
        yield calls


@contextmanager
def timed_function(
    calls: ToolCalls, owner: object, name: str, part: str | None = None
) -> Iterator[None]:
    """Add the seconds of each call of `owner.name` inside the block to `calls`: under `part`,
    else labelled by its first argument, a command line."""
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            argv = [str(word) for word in args[0]] if part is None else []
            calls.add(part or label(argv), time.monotonic() - started, argv)

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, original)


def restore_options(argv: Sequence[str]) -> list[str]:
    """A pgbackrest restore's options, sorted: two command lines compared regardless of order."""
    return sorted(word for word in argv[1:] if word.startswith("--"))


def median_parts(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each part's median over the runs (a part missing from a run counts as 0 there)."""
    names = list(dict.fromkeys(name for parts in runs for name in parts))
    return {
        name: round(statistics.median(parts.get(name, 0.0) for parts in runs), 3) for name in names
    }


def rounded(values: Sequence[float]) -> list[float]:
    return [round(value, 3) for value in values]


def median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 3)
