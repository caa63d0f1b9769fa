"""Reading backout.yaml: every problem reported with its key path, never a traceback."""

from __future__ import annotations

import copy
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
    loc = tuple(p for p in error["loc"] if not _is_validator_name(p))
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


def config_without_refused_keys(source: Path) -> Config | None:
    """The config `source` gives with every key the model refuses left out (its default used,
    or, when it has none, the entry holding it), so that the sections it leaves valid can be
    checked further; None when the file cannot be read or nothing valid is left."""
    try:
        data = read_yaml(source)
    except (YamlProblem, OSError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    refused = _refused_keys(data)
    if not refused:
        return None  # nothing refused: the file failed for another reason
    for _ in range(_MAX_NESTING):
        if any(not loc for loc in refused):
            return None  # the top level itself: nothing left to keep
        data = _without(data, refused)
        refused = _refused_keys(data)
        if not refused:
            return parse_config(data, source)
        # What is still refused is a required key its removal left missing: drop its entry.
        refused = [loc[:-1] for loc in refused]
    return None


_MAX_NESTING = 6  # a key path of backout.yaml is never deeper
_DROPPED = object()  # a list item left out; removed once every path is handled


def _refused_keys(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    try:
        Config.model_validate(data)
    except ValidationError as error:
        return [tuple(p for p in e["loc"] if not _is_validator_name(p)) for e in error.errors()]
    return []


def _is_validator_name(part: int | str) -> bool:
    """A step of pydantic's error location naming a validator, not a key of the file."""
    return isinstance(part, str) and part.startswith("function-")


def _without(data: dict[str, Any], paths: list[tuple[Any, ...]]) -> dict[str, Any]:
    """A copy of `data` without the value at each of `paths` (one that is not there: ignored)."""
    reduced: dict[str, Any] = copy.deepcopy(data)
    for path in sorted(set(paths), key=len, reverse=True):  # deepest first: parents stay
        parent: Any = reduced
        for part in path[:-1]:
            parent = _child(parent, part)
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
            parent[path[-1]] = _DROPPED  # removed below: other paths' indexes still hold
    kept: dict[str, Any] = _no_dropped_items(reduced)
    return kept


def _child(value: Any, part: Any) -> Any:
    if isinstance(value, dict):
        return value.get(part)
    if isinstance(value, list) and isinstance(part, int) and part < len(value):
        return value[part]
    return None


def _no_dropped_items(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _no_dropped_items(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_no_dropped_items(item) for item in value if item is not _DROPPED]
    return value
