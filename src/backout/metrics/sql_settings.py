"""The settings of the `sql` metric source: which database, how often, and the checks to run.

Each check is one SQL query whose first column of its first row is read:

    {name, count: "SELECT count(*) FROM members"}       -> <name>_count, <name>_drop
    {name, invariant: "SELECT count(*) FROM ... bad"}   -> <name>_violations
    {name, freshness: "SELECT max(created_at) FROM ..."} -> <name>_age

The metrics are derived from the checks, so the catalogue is fixed once the settings are valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, Field, field_validator, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from backout.categories import IncidentCategory
from backout.durations import Duration, at_least, format_duration
from backout.metrics.base import MetricCatalogue, MetricInfo, Unit
from backout.registry import PluginSettings

# A check's name becomes part of metric names that trigger rules and sentences use.
CHECK_NAME = re.compile(r"[a-z][a-z0-9_]{0,47}")

MAX_INTERVAL = timedelta(hours=1)
MAX_TIMEOUT = timedelta(minutes=1)

_URL_EXAMPLE = "such as postgresql://app@db.internal/shop or sqlite:///shop.db"


def at_most(maximum: timedelta) -> AfterValidator:
    """A duration that must not exceed `maximum`."""

    def check(value: timedelta) -> timedelta:
        if value > maximum:
            raise ValueError(
                f"must be at most {format_duration(maximum)}, got {format_duration(value)}"
            )
        return value

    return AfterValidator(check)


class CheckKind(StrEnum):
    """What a check's query returns, and the suffix of the metric it gives."""

    COUNT = "count"  # a number of rows that must not drop
    INVARIANT = "invariant"  # the number of rows that violate a rule: should stay 0
    FRESHNESS = "freshness"  # the time of the newest row: must stay recent


@dataclass(frozen=True)
class MetricOfCheck:
    """One metric a check gives: its name, unit and the words a sentence names it by."""

    name: str
    unit: Unit
    label: str


class DataCheck(PluginSettings):
    """One SQL assertion; exactly one of `count`, `invariant` and `freshness`."""

    name: str = Field(
        description="Lower case letters, digits and _; its metrics are named after it "
        "(members -> members_count, members_drop)."
    )
    count: str | None = Field(
        None, description="A query returning a number of rows that must not drop (a count(*))."
    )
    invariant: str | None = Field(
        None,
        description="A query returning how many rows violate a rule (should be 0): the metric "
        "<name>_violations.",
    )
    freshness: str | None = Field(
        None,
        description="A query returning the time of the newest row (a max(created_at)): the "
        "metric <name>_age, seconds since then. A time without a zone is taken as UTC.",
    )

    @field_validator("name")
    @classmethod
    def _identifier_like(cls, name: str) -> str:
        if not CHECK_NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a check name: lower case letters, digits and _, starting with "
                "a letter, at most 48 characters"
            )
        return name

    @field_validator("count", "invariant", "freshness")
    @classmethod
    def _not_blank(cls, query: str | None) -> str | None:
        if query is not None and not query.strip():
            raise ValueError("the query is empty")
        return query

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Self:
        given = [kind.value for kind in CheckKind if getattr(self, kind.value) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'count', 'invariant' or 'freshness' "
                f"(got {', '.join(given) or 'none'})"
            )
        return self

    @property
    def kind(self) -> CheckKind:
        return next(kind for kind in CheckKind if getattr(self, kind.value) is not None)

    @property
    def query(self) -> str:
        return str(getattr(self, self.kind.value))

    def metrics(self) -> list[MetricOfCheck]:
        words = self.name.replace("_", " ")
        if self.kind is CheckKind.COUNT:
            return [
                MetricOfCheck(f"{self.name}_count", Unit.COUNT, f"{words} count"),
                MetricOfCheck(f"{self.name}_drop", Unit.FRACTION, f"{words} drop"),
            ]
        if self.kind is CheckKind.INVARIANT:
            return [MetricOfCheck(f"{self.name}_violations", Unit.COUNT, f"{words} violations")]
        return [MetricOfCheck(f"{self.name}_age", Unit.SECONDS, f"{words} age")]


def parse_database_url(text: str) -> URL:
    """A SQLAlchemy URL of a PostgreSQL (read through psycopg) or SQLite database.

    Raises ValueError with a message that never repeats the URL (it may hold a password).
    """
    try:
        url = make_url(text.strip())
    except (ArgumentError, ValueError):
        raise ValueError(f"not a database URL {_URL_EXAMPLE}") from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.drivername not in ("postgresql", "postgresql+psycopg"):
            raise ValueError(
                f"PostgreSQL is read through psycopg (postgresql://), not {url.drivername}"
            )
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("a SQLite URL names its file: sqlite:///shop.db")
        return url
    raise ValueError(
        f"backout reads PostgreSQL or SQLite databases, not {backend} ({_URL_EXAMPLE})"
    )


class SqlMetricSettings(PluginSettings):
    url: str | None = Field(
        None,
        description="The database, as a SQLAlchemy URL: postgresql://user@host/db or "
        "sqlite:///file.db (relative to the config file). Better: url_env.",
    )
    url_env: str | None = Field(
        None, description="The environment variable holding the URL (keeps a password out)."
    )
    interval: Annotated[Duration, at_least(timedelta(milliseconds=100)), at_most(MAX_INTERVAL)] = (
        Field(timedelta(seconds=30), description="Time between rounds of checks (100ms to 1h).")
    )
    timeout: Annotated[Duration, at_least(timedelta(0)), at_most(MAX_TIMEOUT)] = Field(
        timedelta(seconds=5),
        description="How long one query may run (statement_timeout; at most 1m).",
    )
    window: Duration = Field(
        timedelta(minutes=10),
        description="How far back a count's drop looks for its highest value.",
    )
    checks: list[DataCheck] = Field(
        min_length=1, description="The checks, each one of count, invariant or freshness."
    )

    @field_validator("url")
    @classmethod
    def _a_database_url(cls, url: str | None) -> str | None:
        if url is not None:
            parse_database_url(url)
        return url

    @field_validator("checks")
    @classmethod
    def _unique_names(cls, checks: list[DataCheck]) -> list[DataCheck]:
        seen: set[str] = set()
        for check in checks:
            if check.name in seen:
                raise ValueError(f"two checks are named {check.name!r}: names must be unique")
            seen.add(check.name)
        return checks

    @model_validator(mode="after")
    def _one_url_and_a_window_of_rounds(self) -> Self:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of 'url' or 'url_env'")
        if self.window < self.interval * 2:
            raise ValueError(
                f"window ({format_duration(self.window)}) must hold at least two rounds of "
                f"checks (interval {format_duration(self.interval)})"
            )
        return self

    def catalogue(self) -> MetricCatalogue:
        infos = {
            metric.name: MetricInfo(
                metric.unit, metric.label, metric.label, category=IncidentCategory.DATA
            )
            for check in self.checks
            for metric in check.metrics()
        }
        return MetricCatalogue(infos, sample_noun="check rounds")
