"""Reading a context field: `userId`, `sessionId`, ... at the top, custom ones in `properties`.

A standard field missing at the top is also looked for in `properties` (the reference engine
does so).
Each getter is made once per constraint or strategy and reads the caller's dict as it is, with
no copy per evaluation. Values that are not strings are read as the Unleash Python client
sends them (`str()`, datetimes in ISO 8601); a custom field given at the top level instead of
in `properties` is found there too, as that client moves it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

Context = Mapping[str, Any]
Getter = Callable[[Context], str | None]

CURRENT_TIME = "currentTime"
PROPERTIES = "properties"
# the fields of the Unleash context itself, as opposed to custom ones in `properties`
STANDARD_FIELDS = frozenset(
    {"userId", "sessionId", "environment", "appName", CURRENT_TIME, "remoteAddress", PROPERTIES}
)
# where the reference engine looks for a constraint's or a rollout's context name at the top
CONSTRAINT_FIELDS = STANDARD_FIELDS - {PROPERTIES}
# ... for a variant's stickiness (currentTime is a custom property there)
STICKINESS_FIELDS = CONSTRAINT_FIELDS - {CURRENT_TIME}
# ... for a variant's overrides
OVERRIDE_FIELDS = CONSTRAINT_FIELDS


def as_text(value: Any) -> str:
    """A context value that is not a string, written the way the Unleash Python client sends it."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def now_text() -> str:
    return datetime.now(UTC).isoformat()


def field_getter(name: str, top_level: frozenset[str]) -> Getter:
    """A getter of `name`: read at the top of the context when it is in `top_level`."""
    if name == CURRENT_TIME and name in top_level:
        return _current_time
    if name in top_level:
        return _top_level_getter(name)
    return _property_getter(name, fallback_to_top=name not in STANDARD_FIELDS)


def _top_level_getter(name: str) -> Getter:
    def get(context: Context) -> str | None:
        value = context.get(name)
        if value is None:
            value = _from_properties(context, name)
        if value is None or value.__class__ is str:
            return value
        return as_text(value)

    return get


def _from_properties(context: Context, name: str) -> Any:
    """A standard field missing at the top, read from `properties` as the reference engine does."""
    properties = context.get(PROPERTIES)
    return properties.get(name) if properties else None


def _property_getter(name: str, *, fallback_to_top: bool) -> Getter:
    def get(context: Context) -> str | None:
        properties = context.get(PROPERTIES)
        value = properties.get(name) if properties else None
        if value is None and fallback_to_top:
            value = context.get(name)
        if value is None or value.__class__ is str:
            return value
        return as_text(value)

    return get


def _current_time(context: Context) -> str | None:
    """The context's time, now when it has none (as the Unleash clients fill it in)."""
    value = context.get(CURRENT_TIME)
    if value is None:
        value = _from_properties(context, CURRENT_TIME)
        if value is None:
            return now_text()
    return value if value.__class__ is str else as_text(value)


def current_time_value(context: Context) -> Any:
    """The context's time as given (a string or a datetime), None when it has none."""
    value = context.get(CURRENT_TIME)
    return _from_properties(context, CURRENT_TIME) if value is None else value
