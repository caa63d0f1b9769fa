"""`backout dns ...`: the DNS records of `dns:` — record what they point to, and show it.

Rolling one back is `backout rollback dns_record:NAME`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from backout.cli._common import ConfigOption, JsonOption, actor, print_json, runtime, say
from backout.operations.dns_runs import dns_overview, record_dns

dns_app = typer.Typer(help="DNS records: record their targets, show them.", no_args_is_help=True)


@dns_app.command("record")
def record(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="The record(s) to record (default: every one).", show_default=False),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read each record and record what it answers as its live target (run it after a change:
    the target before it becomes the one `backout rollback dns_record:NAME` goes back to)."""
    with runtime(config) as rt:
        found = record_dns(rt, names, actor=actor())
    if as_json:
        print_json(
            [{"record": f.name, "target": f.record.describe(), "changed": f.changed} for f in found]
        )
        return
    for f in found:
        what = "recorded live" if f.changed else "live already, unchanged"
        say(f"{f.name}: {f.record.describe()} ({what})")


@dns_app.command("show")
def show(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Each record: what it answers now, the target recorded live, and its previous target."""
    with runtime(config) as rt:
        rows = dns_overview(rt)
    if as_json:
        print_json(rows)
        return
    if not rows:
        say("no DNS records in the config (dns:)")
    for row in rows:
        say(f"{row['record']} {row['type']} ({row['provider']})")
        say(f"  answers:       {row['answers']}")
        say(f"  recorded live: {row['recorded_live'] or '(nothing recorded)'}")
        say(f"  previous:      {row['previous'] or '(none recorded)'}")


def register(app: typer.Typer) -> None:
    app.add_typer(dns_app, name="dns")
