"""`backout quickstart`: the runbook's rollbacks, on this machine, in a minute."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from backout.cli._common import console, err_console, print_json, print_table, say, show_step
from backout.quickstart import (
    DatabaseQuickstartResult,
    FlagsQuickstartResult,
    QuickstartResult,
    run_database_quickstart,
    run_flags_quickstart,
    run_quickstart,
)


class Scenario(StrEnum):
    APP = "app"
    DATABASE = "database"
    FLAGS = "flags"
    PLATFORMS = "platforms"


def quickstart(
    workspace: Annotated[
        Path | None, typer.Option(help="Folder to create (default: a new one under /tmp).")
    ] = None,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="Leave the demo app running afterwards (and its PostgreSQL cluster, or its "
            "`backout serve`, whose pid --json gives).",
        ),
    ] = False,
    scenario: Annotated[
        Scenario,
        typer.Option(
            help="app: a bad release rolled back. database: bad data restored on PostgreSQL. "
            "flags: the bad code path turned off by its feature flag, no redeploy. "
            "platforms: the whole environment (HAProxy, S3 + CloudFront, Terraform, DNS) "
            "rolled back under traffic."
        ),
    ] = Scenario.APP,
    notify_config: Annotated[
        Path | None,
        typer.Option(
            "--notify-config",
            help="A YAML file of backout.yaml's notifications:, contacts: and approvals: "
            "sections (docs/notifications.md): the demo's incident tells them (app scenario).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Deploy a good and a bad release of the demo app; watch backout detect and roll back."""
    narrate = (
        (lambda _: None)
        if as_json
        else (lambda line: err_console.print(f"[bold]•[/] {escape(line)}", highlight=False))
    )
    story = _STORIES[scenario]
    told = {"notify_config": notify_config} if notify_config is not None else {}
    if told and scenario is not Scenario.APP:
        raise typer.BadParameter("only with --scenario app", param_hint="--notify-config")
    result = story.run(
        workspace,
        narrate=narrate,
        on_step=None if as_json else show_step,
        keep_running=keep_running,
        **told,
    )
    if as_json:
        print_json(result.as_dict())
    else:
        story.render(result)
    raise typer.Exit(0 if story.succeeded(result) else 1)


def _render_flags(result: FlagsQuickstartResult) -> None:
    verdict = (
        f"[green]mitigated by the flag {escape(result.flag)}[/], no redeploy"
        if result.mitigated_by == "flag"
        else "[yellow]the flag did not help: rolled back[/]"
    )
    console.print(verdict)
    say(
        f"time to detect {_s(result.time_to_detect_s)}, trigger → error rate back under "
        f"the threshold {_s(result.time_to_mitigate_s)}"
    )
    say(f"workspace: {result.workspace}")
    say(f"  try:   cd {result.workspace} && backout flags show {result.flag}")
    say(f"         backout incident show {result.incident_id}")


def _render_database(result: DatabaseQuickstartResult) -> None:
    verdict = "[green]restored[/]" if result.restored else "[red]NOT restored[/]"
    console.print(f"{verdict}: to {escape(result.restore_target)} (run {result.run_id})")
    say(
        f"schema reverted: {_yes(result.schema_reverted)}; integrity: "
        f"{'ok' if result.integrity_ok else 'PROBLEMS'}"
    )
    within = (
        "-"
        if result.rpo_s is None
        else ("within" if result.rpo_s <= result.rpo_objective_s else "OVER")
    )
    say(
        f"data-loss window (RPO) {_s(result.rpo_s)}, {within} the "
        f"{result.rpo_objective_s:.0f}s objective; restored in {_s(result.restore_s)}"
    )
    say(f"lost writes kept: {result.lost_writes_rows} row(s) in {result.lost_writes_report}")
    say(f"workspace: {result.workspace}")
    say(f"  try:   cd {result.workspace} && backout db verify main")
    say(f"         backout incident show {result.incident_id}")


def _run_platforms(workspace: Path | None, **options: Any) -> Any:
    # Imported here: the platforms story pulls boto3 and dnspython, which no other scenario needs.
    from backout.quickstart.platforms import run_platforms_quickstart

    return run_platforms_quickstart(workspace, **options)


def _render_platforms(result: Any) -> None:
    verdict = "[green]recovered[/]" if result.recovered else "[red]NOT fully recovered[/]"
    console.print(
        f"{verdict}: run {result.run_id} {escape(result.run_state)}, incident {result.incident_id}"
    )
    say(f"services rolled back, in order: {', '.join(result.services_rolled_back) or 'none'}")
    say(
        f"client requests through HAProxy during the rollback: "
        f"{result.requests_during_rollback}, failed: {result.failed_requests}"
    )
    say(
        f"infrastructure restored: {_yes(result.infrastructure_restored)}; DNS restored: "
        f"{_yes(result.dns_restored)}; CloudFront invalidated: {_yes(result.cdn_invalidated)}"
    )
    say(
        f"time to detect {_s(result.time_to_detect_s)}, time to recover "
        f"{_s(result.time_to_recover_s)}"
    )
    say(f"workspace: {result.workspace}")
    say(f"  try:   cd {result.workspace} && backout incident show {result.incident_id}")
    say(f"         backout run show {result.run_id}")


def _yes(value: bool) -> str:
    return "yes" if value else "NO"


def _render(result: QuickstartResult) -> None:
    first = result.timeline[0]["at"] if result.timeline else None
    print_table(
        f"incident {result.incident_id} timeline",
        ["+s", "event", "what"],
        [[_offset(first, e["at"]), e["kind"], e["message"]] for e in result.timeline],
    )
    verdict = "[green]rolled back[/]" if result.rolled_back else "[red]NOT rolled back[/]"
    console.print(
        f"{verdict}: {escape(f'{result.from_version} → {result.to_version} (run {result.run_id})')}"
    )
    say(
        f"time to detect {_s(result.time_to_detect_s)}, time to recover "
        f"{_s(result.time_to_recover_s)} against an RTO of {result.rto_s / 60:.0f} min"
    )
    print_table(
        f"incident {result.incident_id} objectives ({result.incident_status})",
        ["objective", "measured", "objective", "met"],
        [
            [o["name"], _s(o["measured_s"]), _s(o["objective_s"]), _met(o["met"])]
            for o in result.objectives
        ],
    )
    if result.notifications.get("sent") or result.notifications.get("unsent"):
        say(
            f"notifications: {result.notifications['sent']} sent, "
            f"{result.notifications['unsent']} still queued (backout notify list)"
        )
    say(f"workspace: {result.workspace}")
    say(f"  state: {result.state_database}\n  log:   {result.logs}")
    for fmt, path in result.reports.items():
        say(f"  report ({fmt}): {path}")
    say(f"  try:   cd {result.workspace} && backout status")
    say(f"         backout incident show {result.incident_id}")


def _offset(first: str | None, at: str) -> str:
    if first is None:
        return ""
    return f"{(datetime.fromisoformat(at) - datetime.fromisoformat(first)).total_seconds():.2f}"


def _met(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "not yet known"}[met]


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


@dataclass(frozen=True)
class _Story:
    """How the CLI tells one scenario: what runs it, how it is shown, when it went well."""

    run: Callable[..., Any]
    render: Callable[[Any], None]
    succeeded: Callable[[Any], bool]


_STORIES = {
    Scenario.APP: _Story(run_quickstart, _render, lambda r: bool(r.rolled_back)),
    Scenario.DATABASE: _Story(
        run_database_quickstart,
        _render_database,
        lambda r: bool(r.restored and r.schema_reverted and r.integrity_ok),
    ),
    Scenario.FLAGS: _Story(run_flags_quickstart, _render_flags, lambda r: r.mitigated_by == "flag"),
    Scenario.PLATFORMS: _Story(_run_platforms, _render_platforms, lambda r: bool(r.recovered)),
}


def register(app: typer.Typer) -> None:
    app.command()(quickstart)
