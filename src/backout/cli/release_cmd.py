"""`backout deploy`, `backout releases`, `backout release record|mark`."""

from __future__ import annotations

from typing import Annotated

import typer

from backout.cli._common import (
    ConfigOption,
    JsonOption,
    actor,
    bounded_reason,
    bounded_ref,
    bounded_version,
    print_json,
    print_table,
    runtime,
    say,
    show_step,
)
from backout.operations import views
from backout.operations.deploy import deploy as deploy_release
from backout.operations.deploy import mark_release, record_release
from backout.releases import ReleaseStatus

release_app = typer.Typer(help="Record releases and give them a verdict.", no_args_is_help=True)

ServiceArg = Annotated[str, typer.Argument(help="The service, as named in backout.yaml.")]
VersionArg = Annotated[str, typer.Argument(help="The release's version.", callback=bounded_version)]


def deploy(
    service: ServiceArg,
    version: VersionArg,
    ref: Annotated[
        str | None,
        typer.Option(help="Git ref, image or artifact (driver-specific).", callback=bounded_ref),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Deploy it even if it was rolled back or marked bad."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Deploy VERSION of SERVICE through its driver, check its health, and record it live."""
    with runtime(config) as rt:
        result = deploy_release(
            rt, service, version, ref=ref, actor=actor(), force=force, on_step=show_step
        )
    say(result.message)
    raise typer.Exit(int(result.exit_code))


def releases(service: ServiceArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The release history of SERVICE, newest first."""
    with runtime(config) as rt:
        history = views.release_history(rt, service)
    if as_json:
        print_json(history)
        return
    print_table(
        f"releases of {service}",
        ["version", "ref", "status", "created", "by", "reason", "deployments"],
        [
            [
                r["version"],
                r["ref"],
                r["status"],
                r["created_at"][:19],
                r["created_by"],
                r["reason"],
                "\n".join(views.deployment_story(d) for d in r["deployments"]) or "-",
            ]
            for r in history
        ],
    )


@release_app.command("record")
def record(
    service: ServiceArg,
    version: VersionArg,
    ref: Annotated[
        str | None, typer.Option(help="Git ref, image or artifact.", callback=bounded_ref)
    ] = None,
    status: Annotated[ReleaseStatus, typer.Option(help="Its status now.")] = ReleaseStatus.LIVE,
    schema_revision: Annotated[
        str | None, typer.Option(help="The database schema revision this release expects.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Record a release a pipeline deployed on its own (live by default)."""
    with runtime(config) as rt:
        release = record_release(
            rt,
            service,
            version,
            ref=ref,
            actor=actor(),
            status=status,
            schema_revision=schema_revision,
        )
    say(f"{service} {release.version} recorded ({release.status})")


@release_app.command("mark")
def mark(
    service: ServiceArg,
    version: VersionArg,
    status: Annotated[ReleaseStatus, typer.Argument(help="good, bad ...")],
    reason: Annotated[str | None, typer.Option(help="Why.", callback=bounded_reason)] = None,
    config: ConfigOption = None,
) -> None:
    """Give a release its verdict by hand (e.g. mark it good without waiting for the bake)."""
    with runtime(config) as rt:
        mark_release(rt, service, version, status, actor=actor(), reason=reason)
    say(f"{service} {version} marked {status}")


def register(app: typer.Typer) -> None:
    app.command()(deploy)
    app.command()(releases)
    app.add_typer(release_app, name="release")
