"""`backout init` and `backout check`: write a starter config, validate one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backout.atomic import write_text_atomic
from backout.cli._common import ConfigOption, say
from backout.config import DEFAULT_CONFIG_NAME
from backout.errors import RefusedError
from backout.starter import STARTER_CONFIG


def init(
    path: Annotated[Path, typer.Argument(help="Where to write it.")] = Path(DEFAULT_CONFIG_NAME),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter backout.yaml."""
    if path.is_dir():
        raise RefusedError(
            f"{path} is a folder", hint=f"name the file to write: {path / DEFAULT_CONFIG_NAME}"
        )
    if path.exists() and not force:
        raise RefusedError(f"{path} already exists", hint="use --force to overwrite it")
    write_text_atomic(path, STARTER_CONFIG)
    say(f"wrote {path}; check it with: backout check --config {path}")


def check(config: ConfigOption = None) -> None:
    """Validate a config file and every plug-in section in it; list every problem found."""
    from backout.operations.config_check import check_config  # here: `init` needs no core

    loaded, notes = check_config(config)
    services = ", ".join(f"{n} ({s.tier}, {s.driver.type})" for n, s in loaded.services.items())
    say(f"{loaded.source}: ok — project {loaded.project!r}, services: {services or 'none'}")
    for note in notes:
        say(note)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(check)
