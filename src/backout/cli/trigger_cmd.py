"""`backout trigger SERVICE --security ID`: a person fires a trigger the watch loop cannot see."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from backout.cli._common import ConfigOption, JsonOption, actor, confirm, print_json, runtime, say

if TYPE_CHECKING:
    from backout.operations.outside_triggers import TriggerOutcome


def _versions(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def trigger(
    service: Annotated[str, typer.Argument(help="The service the trigger is about.")],
    security: Annotated[
        str,
        typer.Option(
            "--security",
            help="A security advisory (CVE-2026-1234, GHSA-...) affecting released versions.",
            show_default=False,
        ),
    ],
    affected: Annotated[
        str | None,
        typer.Option(
            "--affected",
            help="The affected versions, comma-separated (default: the live release).",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fire SERVICE's security trigger (--security ID): record the advisory, apply the policy.

    The advisory is recorded on each affected release; if the live one is, a security incident
    opens and the security policy applies (by default: roll back to the newest good release no
    advisory affects)."""
    from backout.cli._common import show_step
    from backout.operations.security import Advisory, preview_advisory, report_advisory

    report = Advisory(service, security, tuple(_versions(affected)))
    with runtime(config) as rt:
        preview = preview_advisory(rt, report)
        if preview.live_affected and preview.policy != "notify":
            confirm(
                yes,
                f"{service} {preview.live_version} is affected by {security}: apply the "
                f"security policy ({preview.policy})?",
            )
        outcome = report_advisory(rt, report, actor=actor())
        if outcome.refused is not None:
            _refused(outcome, as_json)
        if outcome.handle is None:
            _show(outcome, as_json, {})
            return
        if not as_json:
            say(outcome.sentence)
        result = outcome.handle.execute(None if as_json else show_step)
    _show(outcome, as_json, {"state": result.state, "run_message": result.message}, quiet=True)
    if not as_json:
        say(result.message)
    raise typer.Exit(int(result.exit_code))


def _show(
    outcome: TriggerOutcome, as_json: bool, extra: dict[str, Any], *, quiet: bool = False
) -> None:
    if as_json:
        print_json(_fields(outcome) | extra)
    elif not quiet:
        say(outcome.sentence)


def _fields(outcome: TriggerOutcome) -> dict[str, Any]:
    return {
        "action": outcome.action,
        "message": outcome.sentence,
        "incident_id": outcome.incident_id,
        "run_id": outcome.run_id,
    }


def _refused(outcome: TriggerOutcome, as_json: bool) -> None:
    """The incident is open but the policy's run could not start: say so, exit by the error."""
    from backout.cli._errors import error_object

    error = outcome.refused
    assert error is not None
    if as_json:
        kind = type(error).__name__
        print_json(
            error_object(error.message, int(error.exit_code), kind, error.hint) | _fields(outcome)
        )
    else:
        say(outcome.sentence)
        if error.hint:
            say(f"  → {error.hint}")
    raise typer.Exit(int(error.exit_code))


def register(app: typer.Typer) -> None:
    app.command()(trigger)
