"""`backout check`: a config validated whole, and the notes on what only this host can tell."""

from __future__ import annotations

from pathlib import Path

from backout.config import Config, config_without_refused_keys, load_config
from backout.errors import ConfigError
from backout.notify.targets import missing_variables
from backout.pins import PinFile
from backout.routers import VersionLocating
from backout.runtime import build_router, validate_plugins


def check_config(path: Path | str | None) -> tuple[Config, list[str]]:
    """The loaded config (ConfigError listing every problem when it is invalid) and notes: what
    is missing here but may be present where backout really runs (a variable the sending
    process has, a deploy repository, a load balancer on another host)."""
    try:
        config = load_config(path)
    except ConfigError as refused:
        raise _with_plugin_problems(refused) from None
    validate_plugins(config)
    notes = [f"note: {problem}" for problem in missing_variables(config)]
    if config.pins is not None:
        pin_problem = PinFile(config.pins, config.base_dir, config.state_dir).problem()
        if pin_problem is not None:
            notes.append(f"note: pins: {pin_problem}")
    notes += [f"router: {problem}" for problem in _router_problems(config)]
    notes += [
        f"note: services.{name}.triggers: {name} has no metric source (`probe:` or `metrics:`):"
        " its triggers are unarmed and will not fire"
        for name, service in config.services.items()
        if service.triggers and not service.metric_sources()
    ]
    return config, notes


def _with_plugin_problems(refused: ConfigError) -> ConfigError:
    """`refused` and, in the same list, what the plug-in sections its problems left valid are
    refused for: a person fixes the file in one round, not two. A file of more problems than
    are shown is not checked further (it is the wrong file, or a template)."""
    if refused.path.startswith("$") or refused.problem_count > ConfigError.shown_problems:
        return refused
    partial = config_without_refused_keys(Path(refused.path))
    if partial is None:
        return refused
    try:
        validate_plugins(partial)
    except ConfigError as plugins:
        problems = [*refused.problems, *plugins.problems]
    else:
        problems = refused.problems
    return ConfigError(refused.path, problems, hint="see `backout init` for a starter file")


def _router_problems(config: Config) -> list[str]:
    """What each router that can look at its load balancer finds missing there (the socket,
    the backend, its servers)."""
    found: list[str] = []
    for name in config.services:
        router = build_router(config, name)
        if isinstance(router, VersionLocating):
            found += [f"services.{name}.router: {p}" for p in router.problems()]
    return found
