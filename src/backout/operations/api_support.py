"""What the HTTP API needs of the core beyond the operations the CLI shares."""

from __future__ import annotations

from backout.runs.records import unfinished_runs
from backout.runtime import Runtime


def unfinished_run_ids(runtime: Runtime) -> list[int]:
    """The runs a dead process left unfinished, oldest first, to resume at start-up.

    A server lists them before it accepts requests, so a run it is asked to start meanwhile
    is never taken for a left-over one and executed twice.
    """
    with runtime.store.session() as session:
        return [run.id for run in unfinished_runs(session, runtime.environment)]
