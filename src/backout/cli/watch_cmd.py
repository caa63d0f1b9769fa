"""`backout watch`: the controller in the foreground — the watch loop, and orphaned runs resumed."""

from __future__ import annotations

import contextlib
import signal
from typing import Annotated

import typer

from backout.cli._common import ConfigOption, runtime, say
from backout.controller.controller import Controller


def watch(
    once: Annotated[
        bool, typer.Option("--once", help="Run one cycle, print it, and stop.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Watch every service's triggers; roll back, ask, or notify as each policy says.

    Runs a crashed process left unfinished are resumed too. Ctrl-C or SIGTERM stops: no run
    begins another step, a step under way gets a few seconds, and a run still mid-step is left
    for the next start to resume (its step is observed before anything is done again).
    """
    with runtime(config) as rt:
        controller = Controller(rt, on_change=say)
        if once:
            controller.cycle()
            controller.wait_for_runs()  # a rollback the cycle started must not die with it
            controller.stop()  # frees the watch lease for the next controller at once
            return
        signal.signal(signal.SIGTERM, lambda *_: controller.request_stop())
        say(f"watching {', '.join(rt.config.services)}; Ctrl-C stops")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop as SIGTERM does
            controller.run_forever()
        for left in controller.stop():
            say(left)


def register(app: typer.Typer) -> None:
    app.command()(watch)
