"""Data checks: SQL assertions on a service's database, as a metric source (`type: sql`).

A daemon thread runs every check once per `interval` (sql_reading.py: read-only, each query
bounded by `timeout`) and keeps the rounds of the last `window`. A snapshot reads the newest
round taken at or after `since`:

    <name>_count       count      the count the query returned
    <name>_drop        fraction   how far that count is below the highest count of the rounds
                                  in the window (and since `since`): 0 when it has not dropped
    <name>_violations  count      the rows an invariant query found breaking its rule
    <name>_age         seconds    how long ago the time a freshness query returned was

`since` bounds the drop's reference too: after a rollback the rows a bad release deleted are
still gone, and the release that replaced it must not be blamed for their absence.

A query that fails leaves its metrics None, the reason in `measured_by`; a database that cannot
be reached, in the newest round, makes the snapshot's `problem` (inconclusive, never a
rollback by itself).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta

from sqlalchemy.engine import URL

from backout.errors import ConfigError
from backout.metrics.base import MetricCatalogue, MetricsSnapshot
from backout.metrics.sampling import Sampler
from backout.metrics.sql_reading import CheckResult, CheckRunner, Round
from backout.metrics.sql_settings import CheckKind, DataCheck, SqlMetricSettings, parse_database_url
from backout.redact import redact, remember_secret
from backout.registry import PluginContext

log = logging.getLogger(__name__)

__all__ = ["SqlMetricSettings", "SqlMetricSource", "build_sql"]


class SqlMetricSource:
    """Runs the checks every `interval` from a daemon thread; snapshots read what it kept."""

    def __init__(self, settings: SqlMetricSettings, runner: CheckRunner) -> None:
        self.settings = settings
        self._runner = runner
        self._catalogue = settings.catalogue()
        self._sampler: Sampler[Round] = Sampler(
            "data-checks",
            self._round,
            interval_s=settings.interval.total_seconds(),
            keep_s=settings.window.total_seconds(),
            join_timeout_s=settings.timeout.total_seconds() * 2 + 1,
        )

    @property
    def provides(self) -> MetricCatalogue:
        return self._catalogue

    @property
    def sample_interval(self) -> timedelta:
        return self.settings.interval

    def start(self) -> None:
        self._sampler.start()

    def close(self) -> None:
        self._sampler.close()
        self._runner.close()

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot:
        now = time.time()
        start, taken = self._sampler.window(now, self.settings.window.total_seconds(), since)
        newest = self._sampler.newest()
        rounds = [r for r in taken if r.problem is None]
        window_s = max(now - start, 0.0)
        if newest is not None and newest.problem is not None:
            return MetricsSnapshot({}, 0, window_s, self._catalogue, problem=newest.problem)
        measured = {
            metric: reading
            for check in self.settings.checks
            for metric, reading in self._measure(check, rounds, now).items()
        }
        return MetricsSnapshot(
            {metric: value for metric, (value, _) in measured.items()},
            len(rounds),
            window_s,
            self._catalogue,
            measured_by={metric: how for metric, (_, how) in measured.items()},
        )

    def _measure(
        self, check: DataCheck, rounds: list[Round], now: float
    ) -> dict[str, tuple[float | None, str]]:
        """Each metric of `check`, read from the rounds (oldest first), with how it was read."""
        latest = rounds[-1].results[check.name] if rounds else CheckResult(None)
        how = f"{check.kind.value} query on {self._runner.database}: {check.query.strip()}"
        if latest.error is not None:
            how += f" ({latest.error})"
        [first, *rest] = [metric.name for metric in check.metrics()]
        if check.kind is CheckKind.FRESHNESS:
            age = None if latest.value is None else max(now - latest.value, 0.0)
            return {first: (age, how)}
        if check.kind is CheckKind.INVARIANT:
            return {first: (latest.value, how)}
        [drop] = rest
        counts = [c for r in rounds if (c := r.results[check.name].value) is not None]
        against = f"the latest count against the highest of {len(counts)}: {how}"
        return {first: (latest.value, how), drop: (_drop(latest.value, counts), against)}

    def _round(self) -> Round:
        try:
            return self._runner.run_round()
        except Exception as error:  # the thread must never die silently: a dead check is quiet
            log.exception("data checks on %s failed", self._runner.database)
            return Round(time.time(), {}, problem=redact(f"the checks failed: {error!r}"))


def _drop(latest: float | None, counts: list[float]) -> float | None:
    """How far `latest` is below the highest of `counts`, as a fraction of it; 0 if not below."""
    if latest is None:
        return None
    highest = max(counts, default=0.0)
    if highest <= 0 or latest >= highest:
        return 0.0
    return (highest - latest) / highest


def database_url(settings: SqlMetricSettings, context: PluginContext) -> URL:
    """The URL to read, from `url` or the variable `url_env` names; a SQLite path relative to
    the config file's folder. Its password is remembered as a secret (masked everywhere)."""
    where = f"services.{context.service}.metrics"
    if settings.url is not None:
        url = parse_database_url(settings.url)
    else:
        name = str(settings.url_env)
        text = os.environ.get(name, "").strip()
        if not text:
            raise ConfigError(
                str(context.config_file),
                [f"{where}.url_env: the environment variable {name} is not set"],
                hint=f"export {name}=postgresql://user:password@host/database",
            )
        try:
            url = parse_database_url(text)
        except ValueError as wrong:
            raise ConfigError(
                str(context.config_file), [f"{where}.url_env: {name} holds {wrong}"]
            ) from None
    remember_secret(url.password if isinstance(url.password, str) else None)
    if url.get_backend_name() == "sqlite":
        url = url.set(database=str(context.resolve(str(url.database))))
    return url


def build_sql(settings: SqlMetricSettings, context: PluginContext) -> SqlMetricSource:
    """The registry's factory: a source that queries nothing until started."""
    runner = CheckRunner(database_url(settings, context), settings.checks, settings.timeout)
    return SqlMetricSource(settings, runner)
