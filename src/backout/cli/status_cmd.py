"""`backout status`: each service, what runs, its last known good, open incidents."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from backout.cli._common import (
    ConfigOption,
    JsonOption,
    bounded_reason,
    print_json,
    print_table,
    runtime,
)
from backout.operations.service_facts import service_statuses


def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Services, live version, last known good, open incidents and active runs."""
    with runtime(config) as rt:
        services = service_statuses(rt)
    if as_json:
        print_json(services)
        return
    print_table(
        "services",
        ["service", "tier", "live", "status", "process", "last known good", "incidents", "runs"],
        [
            [
                s["service"],
                s["tier"],
                s["live_version"],
                s["live_status"],
                _process_cell(s),
                s["last_known_good"],
                ", ".join(map(str, s["open_incidents"])) or "-",
                ", ".join(map(str, s["active_runs"])) or "-",
            ]
            for s in services
        ],
    )


def _process_cell(service: dict[str, Any]) -> str:
    """What runs, short enough for a narrow terminal when the driver gives a pid (the whole
    sentence is in `--json`'s `detail`)."""
    if service["pid"] is None:
        return str(service["detail"])
    port = f" :{service['port']}" if service["port"] is not None else ""
    return f"{service['running']} pid {service['pid']}{port}"


def stop(
    service: Annotated[str, typer.Argument(help="The service to stop, as named in backout.yaml.")],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="Why; goes in the audit log and on an open incident.",
            callback=bounded_reason,
        ),
    ] = "stopped by hand",
    config: ConfigOption = None,
) -> None:
    """Stop SERVICE gracefully (SIGTERM, then SIGKILL after its stop_timeout); recorded.

    The watch loop leaves a stopped service alone until it is deployed again.
    """
    # Imported here: `backout status` must not pay for what only `backout stop` uses.
    from backout.cli._common import actor, say
    from backout.operations.deploy import stop_service

    with runtime(config) as rt:
        say(stop_service(rt, service, actor=actor(), reason=reason))


def register(app: typer.Typer) -> None:
    app.command()(status)
    app.command()(stop)
