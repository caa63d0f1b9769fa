"""Prometheus as a metric source: each metric is a PromQL query, read through the HTTP API.

Registered as metric source `prometheus` (docs/metrics.md shows a whole config):

    metrics:
      type: prometheus
      url: http://prometheus:9090
      scrape_interval: 15s
      window: 1m
      queries:
        request_rate:
          query: sum(rate(http_requests_total{job="$service",version="$version"}[$window]))
          unit: per_second
      samples: sum(increase(http_requests_total{job="$service",version="$version"}[$window]))

A snapshot sends every query at once (`GET /api/v1/query`, one instant query each, at the same
`time`). Its window is `window`, shortened to the time since `since` (a release live for 5 s is
judged on its 5 s, not on the minute of the release before), but never below four scrape
intervals: `rate()` needs two samples in its range, and four intervals still hold two when a
scrape is late or missed.

The sample count is the `samples:` query's value (requests in the window, say); without it, it
is the number of queries that returned a number, so a trigger's minimum sample size then counts
queries, not requests. An empty answer makes that one metric None (`or vector(0)` turns "no
errors yet" into 0); every query empty is "no data", a problem. Prometheus unreachable, an HTTP
error, a refused query or a timeout is a problem too: the snapshot has no samples, so no trigger
can fire on it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import CancelledError, ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Self

from pydantic import Field, field_validator, model_validator

from backout.durations import Duration, PositiveDuration, at_least, format_duration
from backout.http_url import BaseHttpUrl
from backout.metrics.base import MetricCatalogue, MetricInfo, MetricsSnapshot, Unit
from backout.metrics.http import HTTP_METRICS
from backout.metrics.promql import (
    QueryFailed,
    check_template,
    instant_query,
    promql_duration,
    render,
    uses,
)
from backout.redact import redact
from backout.registry import PluginContext, PluginSettings

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

SCRAPES_PER_WINDOW = 4  # the shortest window: rate() still has two samples after a missed scrape
MAX_PARALLEL_QUERIES = 8
_METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PrometheusQuery(PluginSettings):
    query: str = Field(
        min_length=1,
        description="PromQL giving one number; $service, $version, $environment and $window "
        "are filled in ($$ is a literal $).",
    )
    unit: Unit = Field(description="fraction (0..1), seconds, per_second or count.")

    _template = field_validator("query")(check_template)


class PrometheusSettings(PluginSettings):
    url: BaseHttpUrl = Field(
        description="Prometheus's base URL (http://prometheus:9090, or with its path prefix); "
        "a password in it is never shown."
    )
    queries: dict[str, PrometheusQuery] = Field(
        min_length=1, description="Metric name -> its query and unit; triggers name the metric."
    )
    samples: str | None = Field(
        None,
        description="PromQL of the sample size over $window (requests, say); without it the "
        "sample count is the number of queries that returned a number.",
    )
    sample_noun: str = Field(
        "samples", min_length=1, description="What `samples` counts, as sentences say it."
    )
    scrape_interval: PositiveDuration = Field(
        timedelta(seconds=15),
        description="How often Prometheus scrapes the service: a new value comes no faster, "
        f"and a window is at least {SCRAPES_PER_WINDOW} of them.",
    )
    window: Annotated[Duration, at_least(timedelta(seconds=1))] = Field(
        timedelta(minutes=1), description="The range the queries' $window covers at most."
    )
    timeout: PositiveDuration = Field(
        timedelta(seconds=2), description="How long a snapshot waits for Prometheus."
    )

    @field_validator("samples")
    @classmethod
    def _samples_template(cls, query: str | None) -> str | None:
        return None if query is None else check_template(query)

    @field_validator("queries")
    @classmethod
    def _metric_names(cls, queries: dict[str, PrometheusQuery]) -> dict[str, PrometheusQuery]:
        for name in queries:
            if not _METRIC_NAME.fullmatch(name):
                raise ValueError(f"metric name {name!r}: use letters, digits and '_' only")
        return queries

    @model_validator(mode="after")
    def _window_holds_enough_scrapes(self) -> Self:
        if self.window < self.min_window:
            raise ValueError(
                f"window {format_duration(self.window)} is shorter than {SCRAPES_PER_WINDOW} "
                f"scrape intervals ({format_duration(self.min_window)}): rate() would see too "
                "few samples"
            )
        return self

    @property
    def min_window(self) -> timedelta:
        return SCRAPES_PER_WINDOW * self.scrape_interval

    def catalogue(self) -> MetricCatalogue:
        """The queries' metrics; one the probe also has, with its unit, reads as the probe's."""
        infos = {}
        for name, spec in self.queries.items():
            known = HTTP_METRICS.metrics.get(name)
            words = name.replace("_", " ")
            infos[name] = (
                known if known and known.unit is spec.unit else MetricInfo(spec.unit, words, words)
            )
        return MetricCatalogue(infos, sample_noun=self.sample_noun)


class PrometheusSource:
    """Reads its queries from Prometheus at each snapshot; keeps no samples of its own."""

    def __init__(self, settings: PrometheusSettings, context: PluginContext) -> None:
        self.settings = settings
        self._service, self._environment = context.service, context.environment
        self._catalogue = settings.catalogue()
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def provides(self) -> MetricCatalogue:
        return self._catalogue

    @property
    def sample_interval(self) -> timedelta:
        return self.settings.scrape_interval

    def start(self) -> None:
        import httpx  # noqa: PLC0415 - only a started source needs a client

        with self._lock:
            if self._client is None:
                timeout = self.settings.timeout.total_seconds()
                self._client = httpx.Client(timeout=timeout)
                self._pool = ThreadPoolExecutor(
                    min(len(self.settings.queries) + 1, MAX_PARALLEL_QUERIES),
                    thread_name_prefix=f"prometheus-{self._service}",
                )

    def close(self) -> None:
        with self._lock:
            client, pool = self._client, self._pool
            self._client = self._pool = None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if client is not None:
            client.close()

    def window_for(self, since: float | None, now: float) -> float:
        """The seconds the queries cover: `window`, or less after `since`, never under the
        minimum of four scrape intervals."""
        window = self.settings.window.total_seconds()
        if since is not None:
            window = min(window, max(now - since, self.settings.min_window.total_seconds()))
        return window

    def queries(self, window_s: float, version: str | None) -> dict[str, str]:
        """Metric name -> its PromQL for this window and version; the samples query under
        `$samples`, a key no metric name can take."""
        values = {
            "service": self._service,
            "environment": self._environment,
            "version": version or "",
            "window": promql_duration(window_s),
        }
        rendered = {name: render(q.query, values) for name, q in self.settings.queries.items()}
        if self.settings.samples is not None:
            rendered[_SAMPLES] = render(self.settings.samples, values)
        return rendered

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot:
        now = time.time()
        window_s = self.window_for(since, now)
        if version is None and self._selects_by_version():
            return self._unread(window_s, "the live version is unknown and the queries need it")
        queries = self.queries(window_s, version)
        with self._lock:
            client, pool = self._client, self._pool
        if client is None or pool is None:
            return self._unread(window_s, "the Prometheus source is not started")
        try:
            answers = dict(
                zip(
                    queries,
                    pool.map(lambda q: self._ask(client, q, now), queries.values()),
                    strict=True,
                )
            )
        except (RuntimeError, CancelledError):  # closed while this snapshot was being taken
            return self._unread(window_s, "the Prometheus source is closed")
        return self._snapshot_of(answers, queries, window_s)

    def _ask(self, client: httpx.Client, promql: str, at: float) -> float | QueryFailed | None:
        try:
            return instant_query(
                client,
                self.settings.url,
                promql,
                at=at,
                timeout_s=self.settings.timeout.total_seconds(),
            )
        except QueryFailed as failed:
            return failed
        except RuntimeError:  # the client was closed under this query: close() said so
            raise
        except Exception as error:  # snapshot() raises nothing: a bug here is a problem shown
            log.exception("a query to Prometheus failed unexpectedly")
            return QueryFailed(f"reading Prometheus failed: {type(error).__name__}: {error}")

    def _snapshot_of(
        self,
        answers: dict[str, float | QueryFailed | None],
        queries: dict[str, str],
        window_s: float,
    ) -> MetricsSnapshot:
        failed = [(name, a) for name, a in answers.items() if isinstance(a, QueryFailed)]
        if failed:
            name, first = failed[0]
            what = "the samples query" if name == _SAMPLES else f"the query of {name}"
            return self._unread(window_s, f"{what}: {first.message}")
        values = {name: _number(answers[name]) for name in self.settings.queries}
        measured = [value for value in values.values() if value is not None]
        if not measured:
            return self._unread(
                window_s,
                f"no data: every query is empty over the last {format_duration(window_s)} "
                f"(is Prometheus at {redact(self.settings.url)} scraping {self._service}?)",
            )
        if self.settings.samples is None:
            samples = len(measured)
        else:
            samples = max(round(_number(answers[_SAMPLES]) or 0.0), 0)
        measured_by = {name: f"PromQL: {queries[name]}" for name in self.settings.queries}
        return MetricsSnapshot(values, samples, window_s, self._catalogue, measured_by=measured_by)

    def _unread(self, window_s: float, problem: str) -> MetricsSnapshot:
        values = dict.fromkeys(self.settings.queries)
        return MetricsSnapshot(values, 0, window_s, self._catalogue, problem=redact(problem))

    def _selects_by_version(self) -> bool:
        texts = [q.query for q in self.settings.queries.values()] + [self.settings.samples or ""]
        return any(uses(text, "version") for text in texts)


_SAMPLES = "$samples"  # the samples query among the answers: no metric name starts with '$'


def _number(answer: float | QueryFailed | None) -> float | None:
    return answer if isinstance(answer, float) else None


def build_prometheus(settings: PrometheusSettings, context: PluginContext) -> PrometheusSource:
    """The registry's factory: a source that reads nothing until started."""
    return PrometheusSource(settings, context)
