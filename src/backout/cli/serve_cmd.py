"""`backout serve`: the HTTP API, with the watch loop inside it."""

from __future__ import annotations

from typing import Annotated

import typer

from backout.cli._common import ConfigOption, log_decisions_to_stderr, runtime


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8400,
    watch: Annotated[
        bool, typer.Option("--watch/--no-watch", help="Run the watch loop inside.")
    ] = True,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (off: it costs throughput).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Serve the REST API (OpenAPI docs at /docs) and run the watch loop."""
    # FastAPI and uvicorn load only for this command, keeping every other command quick.
    from backout.web import serve as serve_api

    log_decisions_to_stderr()
    with runtime(config) as rt:
        serve_api(rt, host=host, port=port, watch=watch, access_log=access_log)


def register(app: typer.Typer) -> None:
    app.command()(serve)
