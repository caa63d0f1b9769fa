"""Durations as people write them in backout.yaml and on the command line: `500ms`, `30s`,
`15m`, `1h30m` or a number of seconds, from 0 to 366 days; and back into the same words."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

# ASCII: a full-width digit (U+FF11 for 1) does not make a duration
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", re.ASCII)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}

MAX_DURATION = timedelta(days=366)
"""The longest wait, window or objective backout accepts: a year covers any retention or bake."""


def _bounded(seconds: float, original: Any) -> timedelta:
    if math.isnan(seconds) or seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"a duration is at most 366d, got {original!r}")
    return timedelta(seconds=seconds)


def parse_duration(value: Any) -> Any:
    """Accept `90`, `1.5`, `"500ms"`, `"15m"`, `"1h30m"` up to 366 days; leave other types to
    pydantic (which refuses them)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 500ms, 30s, 15m or 1h30m, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond any float
            seconds = math.inf
        return _bounded(seconds, value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if text.startswith("-"):
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        if parts and "".join(n + u for n, u in parts) == text:
            return _bounded(sum(float(n) * _UNIT_SECONDS[u] for n, u in parts), value)
        raise ValueError(f"expected a duration such as 500ms, 30s, 15m or 1h30m, got {value!r}")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def at_least(minimum: timedelta) -> AfterValidator:
    """A duration that must be at least `minimum` (or, for a zero minimum, above zero)."""

    def check(value: timedelta) -> timedelta:
        if minimum and value < minimum:
            raise ValueError(
                f"must be at least {format_duration(minimum)}, got {format_duration(value)}"
            )
        if not minimum and value <= timedelta(0):
            raise ValueError(f"must be longer than 0s, got {format_duration(value)}")
        return value

    return AfterValidator(check)


def at_most(maximum: timedelta) -> AfterValidator:
    """A duration that must be at most `maximum`."""

    def check(value: timedelta) -> timedelta:
        if value > maximum:
            raise ValueError(
                f"must be at most {format_duration(maximum)}, got {format_duration(value)}"
            )
        return value

    return AfterValidator(check)


PositiveDuration = Annotated[Duration, at_least(timedelta(0))]
"""A wait or an objective: zero would mean "never wait" or "always missed"."""

LoopInterval = Annotated[Duration, at_least(timedelta(milliseconds=10))]
"""The pause of a loop: under 10ms it only burns a core (and floods what it polls)."""


def format_duration(value: timedelta | float) -> str:
    """The inverse of parse_duration, for messages: 900 → '15m', 2.5 → '2.5s'."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
