"""The `backout` command: thin typer commands, one module per command group."""

from __future__ import annotations

import gc

_started_as_program = False


def resume_collector() -> None:
    """Switch the cyclic garbage collector (back) on. In the `backout` program, what was built
    while it was off lives as long as the process and is frozen first, so that no pass walks it
    again; a test's process, which calls commands without `main()`, freezes nothing (it would
    keep its garbage of the moment for good)."""
    if _started_as_program:
        gc.freeze()
    gc.enable()


def main() -> None:
    """The `backout` program: the root command of `backout.cli.app`, started without the cyclic
    garbage collector.

    Importing typer, pydantic, SQLAlchemy and the command's modules, and building the
    validators of its options, create a few hundred thousand long-lived objects and no garbage,
    which the collector (run every 700 allocations) would walk again and again: about a tenth
    of the start of `backout status`. It is switched back on as the command itself begins
    (`app.collecting_when_run`), so that a long-running one (`serve`, `watch`) collects.
    """
    global _started_as_program  # noqa: PLW0603 - once, as the process starts
    _started_as_program = True
    gc.disable()
    from backout.cli.app import main as run_root  # after the collector is off

    run_root()
