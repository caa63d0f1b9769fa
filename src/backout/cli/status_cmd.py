"""`backout status`: each service, what runs, its last known good, open incidents."""

from __future__ import annotations

import typer

from backout.cli._common import ConfigOption, JsonOption, print_json, print_table, runtime
from backout.operations import views


def status(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Services, live version, last known good, open incidents and active runs."""
    with runtime(config) as rt:
        services = views.service_statuses(rt)
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
                s["detail"],
                s["last_known_good"],
                ", ".join(map(str, s["open_incidents"])) or "-",
                ", ".join(map(str, s["active_runs"])) or "-",
            ]
            for s in services
        ],
    )


def register(app: typer.Typer) -> None:
    app.command()(status)
