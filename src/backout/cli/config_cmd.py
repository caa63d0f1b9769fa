"""`backout init` and `backout check`: write a starter config, validate one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backout.atomic import write_text_atomic
from backout.cli._common import ConfigOption, say
from backout.config import DEFAULT_CONFIG_NAME, Config, load_config
from backout.errors import RefusedError
from backout.starter import STARTER_CONFIG


def init(
    path: Annotated[Path, typer.Argument(help="Where to write it.")] = Path(DEFAULT_CONFIG_NAME),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter backout.yaml."""
    if path.exists() and not force:
        raise RefusedError(f"{path} already exists", hint="use --force to overwrite it")
    write_text_atomic(path, STARTER_CONFIG)
    say(f"wrote {path}; check it with: backout check --config {path}")


def check(config: ConfigOption = None) -> None:
    """Validate a config file and every plug-in section in it; list every problem found."""
    from backout.runtime import validate_plugins  # here: `init` needs no state store

    loaded = load_config(config)
    validate_plugins(loaded)
    services = ", ".join(f"{n} ({s.tier}, {s.driver.type})" for n, s in loaded.services.items())
    say(f"{loaded.source}: ok — project {loaded.project!r}, services: {services or 'none'}")
    from backout.notify.targets import missing_variables  # here: only `check` needs it

    for problem in missing_variables(loaded):  # a note: the sending process may have them
        say(f"note: {problem}")
    if loaded.pins is not None:
        from backout.pins import PinFile  # here: only a config with pins needs it

        pin_problem = PinFile(loaded.pins, loaded.base_dir, loaded.state_dir).problem()
        if pin_problem is not None:  # a note: the controller's host may have the working copy
            say(f"note: pins: {pin_problem}")
    for problem in _router_problems(loaded):
        say(f"router: {problem}")


def _router_problems(loaded: Config) -> list[str]:
    """What each router that can look at its load balancer finds missing there (the socket,
    the backend, its servers); reported, not fatal: the load balancer may run elsewhere."""
    from backout.routers import VersionLocating  # here: only `check` needs it
    from backout.runtime import build_router

    found: list[str] = []
    for name in loaded.services:
        router = build_router(loaded, name)
        if isinstance(router, VersionLocating):
            found += [f"services.{name}.router: {p}" for p in router.problems()]
    return found


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(check)
