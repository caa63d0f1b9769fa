"""Parsing of the values a flag set and a context carry, as the reference Unleash engine reads them.

The reference engine (Yggdrasil, used by the Unleash SDKs) turns every strategy into a small
rule language and parses it; a value that language cannot hold makes the whole flag unparseable,
and such a flag is off for everyone. `UnparseableRuleError` carries that case from the module
that meets it up to the flag.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

import semver

OrdinalKind = Literal["date", "semver", "number"]
# (seconds since the epoch, nanoseconds): precise to the nanosecond, like the reference engine
Instant = tuple[int, int]

_BLANKS = " \t"  # the whitespace the rule language skips between tokens
_DATE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{3}))?"
    r"(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))"
)
# chrono's lenient RFC 3339: blanks before numbers, 1-2 digit fields, "UTC", "+hhmm" or "+hh mm"
_CONTEXT_DATE = re.compile(
    r"\s*([0-9]{4}|[+-][0-9]+)\s*-\s*([0-9]{1,2})\s*-\s*([0-9]{1,2})[Tt ]\s*([0-9]{1,2})\s*:\s*"
    r"([0-9]{1,2})\s*:\s*([0-9]{1,2})(?:\.([0-9]+))?\s*"
    r"(?:([Zz]|[Uu][Tt][Cc])|([+-])([0-9]{2})[:\s]*([0-9]{2}))\s*"
)
_FRAGMENT = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_SEMVER = re.compile(rf"[0-9]+\.[0-9]+\.[0-9]+(?:-{_FRAGMENT})?(?:\+{_FRAGMENT})?")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
_CONTEXT_NUMBER = re.compile(
    r"[+-]?(?:inf|infinity|nan|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)", re.IGNORECASE
)
_USIZE = re.compile(r"\+?[0-9]+")
_U64_LIMIT = 2**64


class UnparseableRuleError(Exception):
    """A flag holds a value the reference engine cannot compile; the flag is always off."""


def rule_string(raw: str) -> str:
    """What a value becomes once quoted in the rule language; raises when it cannot be quoted.

    A `\\"` inside is an escaped quote and comes out as `"`; a bare `"`, or a `\\` that would
    escape the closing quote, ends the string early and breaks the rule.
    """
    chars: list[str] = []
    index, length = 0, len(raw)
    while index < length:
        char = raw[index]
        if char == "\\" and index + 1 < length and raw[index + 1] == '"':
            chars.append('"')
            index += 2
            continue
        if char == '"' or (char == "\\" and index + 1 == length):
            raise UnparseableRuleError(f"{raw!r} cannot be quoted in a rule")
        chars.append(char)
        index += 1
    return "".join(chars)


def quoted_value(raw: str) -> str:
    """A constraint value, quoted the way the reference engine quotes it (its quotes escaped)."""
    return rule_string(raw.replace('"', '\\"'))


def parse_usize(raw: str | None) -> int | None:
    """An unsigned integer as the reference engine reads percentages; None when it is not one."""
    if raw is None or not _USIZE.fullmatch(raw):
        return None
    value = int(raw)
    return value if value < _U64_LIMIT else None


def context_number(raw: str) -> float | None:
    """A context value read as a 64-bit float, with the reference engine's spelling rules."""
    return float(raw) if _CONTEXT_NUMBER.fullmatch(raw) else None


def _instant(match: re.Match[str]) -> Instant | None:
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction, zulu, sign, off_hours, off_minutes = match.group(7, 8, 9, 10, 11)
    if not (1 <= month <= 12 and 1 <= day <= _month_length(year, month)):
        return None
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second, after :59
        return None
    offset = 0
    if not zulu:
        hours, minutes = int(off_hours), int(off_minutes)
        if hours > 23 or minutes > 59:
            return None
        offset = (hours * 60 + minutes) * 60 * (-1 if sign == "-" else 1)
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60
    seconds += min(second, 59) - offset
    nanos = int((fraction or "")[:9].ljust(9, "0")) + (1_000_000_000 if second == 60 else 0)
    return (seconds, nanos)


def _month_length(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar (any year)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def constraint_date(raw: str) -> Instant | None:
    """A date of the rule language (RFC 3339, milliseconds at most); None when it is not one."""
    match = _DATE.fullmatch(raw.strip(_BLANKS))
    return None if match is None else _instant(match)


@lru_cache(maxsize=1024)
def context_date(raw: str) -> Instant | None:
    """A context date: RFC 3339, read as leniently as the reference engine reads it."""
    match = _CONTEXT_DATE.fullmatch(raw)
    return None if match is None else _instant(match)


def datetime_instant(moment: datetime) -> Instant:
    """A datetime object given in a context; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    whole = moment.replace(microsecond=0) - datetime(1970, 1, 1, tzinfo=UTC)
    return (int(whole.total_seconds()), moment.microsecond * 1000)


def now_instant() -> Instant:
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return (seconds, nanos)


@lru_cache(maxsize=1024)
def context_semver(raw: str) -> semver.Version | None:
    """A context version, strict semver.org syntax; None when it is not one."""
    if not _SEMVER.fullmatch(raw):
        return None
    return _semver(raw)


def _semver(text: str) -> semver.Version | None:
    try:
        version = semver.Version.parse(text)
    except ValueError:
        return None
    if max(version.major, version.minor, version.patch) >= _U64_LIMIT:
        return None
    return version


def ordinal_value(raw: str) -> tuple[OrdinalKind, Instant | semver.Version | float]:
    """Read the value of a numeric, date or semver constraint as the rule language reads it.

    The language tells the kinds apart by their spelling, a date first, then a version, then
    a number, whatever the operator; a value that is none of them, or is spelled as one but is
    not a valid one, breaks the rule.
    """
    text = raw.strip(_BLANKS)
    if _DATE.fullmatch(text):
        instant = constraint_date(text)
        if instant is None:
            raise UnparseableRuleError(f"{raw!r} is not a valid date")
        return "date", instant
    if _SEMVER.fullmatch(text):
        version = _semver(text)
        if version is None:
            raise UnparseableRuleError(f"{raw!r} is not a valid version")
        return "semver", version
    if _NUMBER.fullmatch(text):
        return "number", float(text)
    raise UnparseableRuleError(f"{raw!r} is neither a date, a version nor a number")
