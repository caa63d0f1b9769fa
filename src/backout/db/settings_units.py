"""PostgreSQL setting values in the unit pg_settings reports them in.

`ALTER SYSTEM SET archive_timeout = '5s'` is read back from pg_settings as setting `5`, unit `s`;
`shared_buffers = '128MB'` as `16384`, unit `8kB`. `in_unit('5s', 's')` gives `'5'`, so a
wanted value and the one in effect compare equal whatever unit each was written in.
"""

from __future__ import annotations

import math
import re

_TIME_MS: dict[str, float] = {
    "us": 0.001,
    "ms": 1,
    "s": 1000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}
_MEMORY_B: dict[str, float] = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_VALUE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_UNIT = re.compile(r"^(\d*)([a-zA-Z]+)$")  # pg_settings' unit: `s`, `ms`, `kB`, `8kB`, `16MB`


def in_unit(value: str, unit: str) -> str:
    """`value` (a number with or without its own unit) as pg_settings shows it in `unit`.

    A value that is not a number with a known unit, or a setting without a unit, is returned
    as it is: compared as text.
    """
    number, own = _parse(value)
    base = _unit_size(unit)
    if number is None or base is None:
        return value
    size = _size(own or unit, base[1])
    if size is None:
        return value
    # PostgreSQL rounds to the nearest multiple of the setting's unit.
    return str(math.floor(number * size / base[0] + 0.5))


def _parse(value: str) -> tuple[float | None, str]:
    found = _VALUE.match(value)
    return (float(found.group(1)), found.group(2)) if found else (None, "")


def _unit_size(unit: str) -> tuple[float, dict[str, float]] | None:
    """The size of pg_settings' unit in its family's base, and that family's table."""
    found = _UNIT.match(unit)
    if not found:
        return None
    count = int(found.group(1) or 1)
    for table in (_TIME_MS, _MEMORY_B):
        if found.group(2) in table:
            return count * table[found.group(2)], table
    return None


def _size(unit: str, table: dict[str, float]) -> float | None:
    found = _UNIT.match(unit)
    if not found or found.group(2) not in table:
        return None
    return int(found.group(1) or 1) * table[found.group(2)]
