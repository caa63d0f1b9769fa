"""Reading backout.yaml: every problem reported with its key path, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import (
    ValidationError,
)

from backout.config.model import Config
from backout.config.sections import DEFAULT_CONFIG_NAME
from backout.errors import ConfigError
from backout.safe_yaml import YamlProblem, read_yaml
from backout.state_url import check_state_url_variable


def key_path(loc: tuple[int | str, ...]) -> str:
    """('services', 'api', 'triggers', 0, 'above') → 'services.api.triggers[0].above'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: Any, prefix: tuple[str | int, ...] = ()) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    where = key_path(prefix + loc) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (misspelt, or not in this version of backout)"
    elif error["type"] == "missing":
        message = "required key is missing"
    return f"{where}: {message}"


def validation_problems(error: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[str]:
    """One line per problem: 'services.api.triggers[0].above: Input should be a valid number'."""
    return [_describe(e, prefix) for e in error.errors()]


def parse_config(data: Any, source: Path) -> Config:
    """Validate already-parsed YAML; raise ConfigError naming every problem."""
    if not isinstance(data, dict):
        raise ConfigError(str(source), ["(top level): expected a mapping of keys such as project:"])
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(
            str(source),
            validation_problems(error),
            hint="see `backout init` for a starter file; the settings of each plug-in (driver, "
            "router, check, provider) are checked once these are fixed",
        ) from None
    config._source = source
    return config


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate `path` (default: $BACKOUT_CONFIG, then ./backout.yaml)."""
    source = Path(path or os.environ.get("BACKOUT_CONFIG") or DEFAULT_CONFIG_NAME)
    try:
        data = read_yaml(source)
    except YamlProblem as problem:
        raise ConfigError(str(source), [str(problem)]) from None
    except FileNotFoundError:
        raise ConfigError(
            str(source), ["file not found"], hint="create one with `backout init`"
        ) from None
    except OSError as error:
        raise ConfigError(str(source), [f"cannot be read: {error.strerror}"]) from None
    except UnicodeDecodeError as error:
        raise ConfigError(str(source), [f"not UTF-8 text (byte {error.start})"]) from None
    config = parse_config(data, source)
    check_state_url_variable()
    return config
