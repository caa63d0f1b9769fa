"""`backout infra ...`: the infrastructure stacks of `infrastructure:` — record the variables
applied to them, and show them.

Rolling one back is `backout rollback stack:NAME`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backout.cli._common import ConfigOption, JsonOption, actor, print_json, runtime, say
from backout.operations.stack_runs import record_stack, stacks_overview

infra_app = typer.Typer(
    help="Infrastructure stacks: record the variables applied, show them.", no_args_is_help=True
)


@infra_app.command("record")
def record(
    name: Annotated[str, typer.Argument(help="The stack (infrastructure[].name).")],
    vars_file: Annotated[
        Path | None,
        typer.Option(
            "--vars",
            help="The JSON file of the variables applied (default: the stack's variables:).",
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record the variables the stack was just applied with (run it after each apply: the
    variables before become the ones `backout rollback stack:NAME` applies again)."""
    with runtime(config) as rt:
        found = record_stack(rt, name, actor=actor(), vars_file=vars_file)
    if as_json:
        print_json({"stack": found.name, "version": found.version, "changed": found.changed})
        return
    what = "recorded live" if found.changed else "live already, unchanged"
    say(f"stack {found.name}: {found.version} ({what})")


@infra_app.command("show")
def show(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Each stack: the variables recorded live, the previous ones, and whether the stack
    matches the live ones (runs the tool's plan)."""
    with runtime(config) as rt:
        rows = stacks_overview(rt)
    if as_json:
        print_json(rows)
        return
    if not rows:
        say("no infrastructure stacks in the config (infrastructure:)")
    for row in rows:
        matches = {True: "yes", False: "NO (changed since recorded)", None: "unknown"}
        say(f"stack {row['stack']} ({row['tool']})")
        say(f"  recorded live: {row['recorded_live'] or '(nothing recorded)'}")
        say(f"  previous:      {row['previous'] or '(none recorded)'}")
        say(f"  matches live:  {matches[row['matches_live']]} {row.get('problem', '')}".rstrip())


def register(app: typer.Typer) -> None:
    app.add_typer(infra_app, name="infra")
