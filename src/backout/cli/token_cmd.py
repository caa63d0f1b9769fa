"""`backout token create|revoke`: API tokens with a role."""

from __future__ import annotations

from typing import Annotated

import typer

from backout.cli._common import (
    ConfigOption,
    actor,
    bounded_token_name,
    err_console,
    runtime,
    say,
)
from backout.operations.tokens import Role, create_token, revoke_token

token_app = typer.Typer(help="API tokens for `backout serve`.", no_args_is_help=True)


@token_app.command("create")
def create(
    name: Annotated[
        str,
        typer.Argument(
            help="Who or what will use it (ci, alice ...).", callback=bounded_token_name
        ),
    ],
    role: Annotated[
        str, typer.Option(help="client (the flag API only), viewer, operator, approver or admin.")
    ] = "viewer",
    config: ConfigOption = None,
) -> None:
    """Make a token; it is printed once, and only its hash is stored."""
    with runtime(config) as rt:
        parsed = Role.parse(role)
        token = create_token(rt, name, parsed, actor=actor())
    # The note goes to stderr so that `TOKEN=$(backout token create ci)` captures the token alone.
    err_console.print(
        f"token {name!r} ({parsed.name.lower()}); keep it now, it is not shown again:",
        markup=False,
        highlight=False,
    )
    print(token)


@token_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    config: ConfigOption = None,
) -> None:
    """Revoke a token at once."""
    with runtime(config) as rt:
        revoke_token(rt, name, actor=actor())
    say(f"token {name!r} revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(token_app, name="token")
