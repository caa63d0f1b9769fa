"""Business flows: a synthetic transaction, run every `interval`, as a metric source.

Registered as metric source `flow`. Where the probe asks "does the endpoint answer?", a flow
asks "can a customer still do the thing?": sign in, book a session, read it back, cancel it.
Each run passes or fails (which step, why); the runs of the sliding window give the metrics:

    flow_failure_rate    the fraction of runs that failed
    flow_duration_p50/95 how long whole runs took, of the runs that passed (a failed run stops
                         early: its duration says nothing of speed); needs 5 runs
    flow_runs            how many runs the window holds (also the sample count)

Settings and their checks are in flow_settings.py, one run in flow_run.py.
"""

from __future__ import annotations

import logging
import statistics
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from backout.categories import IncidentCategory
from backout.metrics.base import MetricCatalogue, MetricInfo, MetricsSnapshot, Unit
from backout.metrics.flow_run import FlowRun, run_flow
from backout.metrics.flow_settings import FlowSettings
from backout.metrics.sampling import Sampler
from backout.registry import PluginContext

if TYPE_CHECKING:
    import httpx

__all__ = ["FLOW_METRICS", "FlowSettings", "FlowSource", "build_flow", "summarise"]

log = logging.getLogger(__name__)

_BROKEN = IncidentCategory.BUSINESS  # a business-critical flow is broken
_SLOWER = IncidentCategory.PERFORMANCE

FLOW_METRICS = MetricCatalogue(
    {
        "flow_failure_rate": MetricInfo(
            Unit.FRACTION, "flow failure rate", "flow failures", category=_BROKEN
        ),
        "flow_duration_p50": MetricInfo(Unit.SECONDS, "flow p50", category=_SLOWER),
        "flow_duration_p95": MetricInfo(Unit.SECONDS, "flow p95", "flow p95", category=_SLOWER),
        "flow_runs": MetricInfo(Unit.COUNT, "flow runs"),
    },
    sample_noun="runs",
)

_MIN_RUNS_FOR_PERCENTILES = 5


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    if len(sorted_values) < _MIN_RUNS_FOR_PERCENTILES:
        return None
    cuts = statistics.quantiles(sorted_values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


def summarise(runs: list[FlowRun], window_s: float, title: str) -> MetricsSnapshot:
    """The metrics of `runs`, and how they were measured, for the evidence of a decision."""
    failed = [run for run in runs if not run.passed]
    durations = sorted(run.duration_s for run in runs if run.passed)
    values = {
        "flow_failure_rate": len(failed) / len(runs) if runs else 0.0,
        "flow_duration_p50": _percentile(durations, 0.50),
        "flow_duration_p95": _percentile(durations, 0.95),
        "flow_runs": float(len(runs)),
    }
    how = f"flow {title!r}: {len(failed)} of {len(runs)} runs failed"
    if failed:
        how += f", the last at {time.strftime('%H:%M:%S', time.gmtime(failed[-1].at))}Z: "
        how += f"{failed[-1].failure}"
    measured_by = dict.fromkeys(values, how)
    return MetricsSnapshot(values, len(runs), window_s, FLOW_METRICS, measured_by=measured_by)


class FlowSource:
    """Runs the flow from a daemon thread, one run at a time, every `interval`."""

    provides = FLOW_METRICS

    def __init__(self, settings: FlowSettings) -> None:
        self.settings = settings
        self._sampler: Sampler[FlowRun] = Sampler(
            "flow",
            self._run,
            interval_s=settings.interval.total_seconds(),
            keep_s=settings.window.total_seconds(),
            # a run in flight ends within its current request's timeout
            join_timeout_s=settings.timeout.total_seconds() + 1,
        )

    @property
    def sample_interval(self) -> timedelta:
        return self.settings.interval

    def start(self) -> None:
        self._sampler.start()

    def close(self) -> None:
        self._sampler.close()

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot:
        now = time.time()
        start, runs = self._sampler.window(now, self.settings.window.total_seconds(), since)
        return summarise(runs, max(now - start, 0.0), self.settings.title())

    def _run(self) -> FlowRun:
        import httpx  # noqa: PLC0415 - only a started flow needs its client

        # A client per run, without kept-alive connections: each run sees a restarted server
        # at once, as a new customer would.
        with httpx.Client(
            base_url=self.settings.base_url,
            timeout=self.settings.timeout.total_seconds(),
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as client:
            return self._run_once(client)

    def _run_once(self, client: httpx.Client) -> FlowRun:
        at = time.time()
        try:
            return run_flow(client, self.settings)
        except Exception as error:  # the thread must never die silently: a dead flow looks idle
            log.exception("flow %r failed unexpectedly", self.settings.title())
            return FlowRun(at, time.time() - at, f"the flow could not run: {error}")


def build_flow(settings: FlowSettings, context: PluginContext) -> FlowSource:
    """The registry's factory: a flow that sends nothing until started."""
    return FlowSource(settings)
