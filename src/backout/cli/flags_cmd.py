"""`backout flags list|show|disable|enable|rollout`: the kill switch and gradual exposure."""

from __future__ import annotations

from typing import Annotated

import typer

from backout.cli._common import (
    ConfigOption,
    JsonOption,
    actor,
    print_json,
    print_table,
    runtime,
    say,
)
from backout.operations import flags as flag_ops
from backout.operations.flags import FlagChanged

flags_app = typer.Typer(help="Feature flags: the kill switch and gradual exposure.")

KeyArg = Annotated[str, typer.Argument(help="The flag's key.")]
ReasonOption = Annotated[str, typer.Option(help="Why; recorded, and on the incident's timeline.")]


@flags_app.command("list")
def list_flags(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Every flag of the environment and its exposure."""
    with runtime(config) as rt:
        views = [flag_ops.flag_view(flag) for flag in flag_ops.list_flags(rt)]
    if as_json:
        print_json(views)
        return
    print_table(
        "flags",
        ["key", "exposure", "to remove", "description"],
        [
            [v["key"], v["exposure"], "yes" if v["to_remove"] else "", v["description"]]
            for v in views
        ],
    )


@flags_app.command()
def show(key: KeyArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """One flag: its strategies, the services it guards, and who changed it, when and why."""
    with runtime(config) as rt:
        detail = flag_ops.flag_detail(rt, key)
    if as_json:
        print_json(detail)
        return
    say(f"{detail['key']}: {detail['exposure']}" + (" — to remove" if detail["to_remove"] else ""))
    if detail["guards"]:
        say(f"guards: {', '.join(detail['guards'])}")
    print_table(
        "changes",
        ["at", "by", "from", "to", "why"],
        [
            [c["at"], c["actor"], _state(c["before"]), _state(c["after"]), c["reason"] or ""]
            for c in detail["changes"]
        ],
    )


@flags_app.command()
def disable(
    key: KeyArg, reason: ReasonOption, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """The kill switch: the flag off for everyone, now."""
    with runtime(config) as rt:
        _report(flag_ops.disable(rt, key, actor=actor(), reason=reason), as_json)


@flags_app.command()
def enable(
    key: KeyArg,
    reason: ReasonOption = "enabled again",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The flag on again (with its rollout as it was)."""
    with runtime(config) as rt:
        _report(flag_ops.enable(rt, key, actor=actor(), reason=reason), as_json)


@flags_app.command()
def rollout(
    key: KeyArg,
    percent: Annotated[int, typer.Argument(min=0, max=100, help="Percent of users, 0-100.")],
    reason: ReasonOption = "rollout changed",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Expose the flag to PERCENT of users (sticky on the user id)."""
    with runtime(config) as rt:
        _report(flag_ops.rollout(rt, key, percent, actor=actor(), reason=reason), as_json)


def _report(change: FlagChanged, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                **flag_ops.flag_view(change.flag),
                "changed": change.changed,
                "before": flag_ops.flag_view(change.before),
                "incident_ids": change.incident_ids,
            }
        )
        return
    say(change.sentence())
    for incident_id in change.incident_ids:
        say(f"on the timeline of incident {incident_id}")


def _state(state: dict[str, object] | None) -> str:
    if not state:
        return "-"
    if not state.get("enabled"):
        return "off"
    rollout_percent = state.get("rollout")
    return "on" if rollout_percent is None else f"on ({rollout_percent} %)"


def register(app: typer.Typer) -> None:
    app.add_typer(flags_app, name="flags")
