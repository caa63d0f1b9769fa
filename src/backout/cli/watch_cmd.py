"""`backout watch`: the watch loop in the foreground."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from backout.cli._common import ConfigOption, runtime, say
from backout.controller.watch import Watcher


def watch(
    once: Annotated[
        bool, typer.Option("--once", help="Run one cycle, print it, and stop.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Watch every service's triggers; roll back, ask, or notify as each policy says."""
    with runtime(config) as rt:
        watcher = Watcher(rt, on_change=say)
        if once:
            watcher.run_cycle()
            watcher.wait_for_runs()  # a rollback the cycle started must not die with the process
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        say(f"watching {', '.join(rt.config.services)}; Ctrl-C stops")
        try:
            watcher.run_forever(stop)
        except KeyboardInterrupt:
            stop.set()
        watcher.wait_for_runs()


def register(app: typer.Typer) -> None:
    app.command()(watch)
