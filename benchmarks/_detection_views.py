"""The two ways the detection benchmark watches one app: the same release judged by backout's own
synthetic checks and by Prometheus, as two services of one backout.yaml on the fake driver (the
benchmark starts the app itself; a rollback's own speed is benchmarks/rollback.py's business).

  probe-view  the probe on GET /api/sessions (every 20 ms) and the booking flow (every 250 ms)
  prom-view   PromQL over the app's own /metrics, scraped every second

Both carry the triggers a team would write from the runbook: errors above 5 %, 50 % slower than
the last known good, the business flow failing, any one endpoint mostly failing.
"""

from __future__ import annotations

from typing import Any

from backout.demo import PROBE_PATH, booking_flow

PROBE_VIEW, PROMETHEUS_VIEW = "probe-view", "prom-view"
VIEWS = (PROBE_VIEW, PROMETHEUS_VIEW)
WATCH_INTERVAL_S = 0.1
BAKE_TIME = "10s"  # longer than the recovering burst of the healthy cases starts after
# Requests before an error rate means anything: the probe sends 50/s, Prometheus sees ~80/s.
PROBE_MIN_SAMPLES, PROMETHEUS_MIN_SAMPLES = 30, 40
MONITOR = "2s"  # a rollback's monitoring step: the fake driver restores nothing worth watching

_SELECTOR = 'job="$service",version="$version"'
_REQUESTS = f"http_requests_total{{{_SELECTOR}}}"
_FAILED = f'http_requests_total{{{_SELECTOR},status=~"5.."}}'
_DURATION = "http_request_duration_seconds"
# The share failing of the worst route among those with at least 10 requests in the window: a
# route of little traffic with one unlucky error is no broken endpoint.
_FAILED_BY_ROUTE = f"sum by (route) (rate({_FAILED}[$window]))"
_ALL_BY_ROUTE = f"sum by (route) (rate({_REQUESTS}[$window]))"
_COUNT_BY_ROUTE = f"sum by (route) (increase({_REQUESTS}[$window]))"
_WORST_ROUTE = (
    f"max((({_FAILED_BY_ROUTE} or {_ALL_BY_ROUTE} * 0) / {_ALL_BY_ROUTE})"
    f" and ({_COUNT_BY_ROUTE} >= 10))"
)
PROMETHEUS_QUERIES: dict[str, dict[str, str]] = {
    "error_rate": {
        "query": f"(sum(rate({_FAILED}[$window])) or vector(0)) / sum(rate({_REQUESTS}[$window]))",
        "unit": "fraction",
    },
    "worst_route_error_rate": {"query": _WORST_ROUTE, "unit": "fraction"},
    "latency_mean": {
        "query": f"sum(rate({_DURATION}_sum{{{_SELECTOR}}}[$window])) / "
        f"sum(rate({_DURATION}_count{{{_SELECTOR}}}[$window]))",
        "unit": "seconds",
    },
    "request_rate": {"query": f"sum(rate({_REQUESTS}[$window]))", "unit": "per_second"},
}


def _errors_above_5pct(metric: str, min_samples: int) -> dict[str, Any]:
    return {
        "name": "error-rate",
        "metric": metric,
        "above": 0.05,
        "for": "1s",
        "min_samples": min_samples,
    }


def _slower_by_half(metric: str) -> dict[str, Any]:
    return {
        "name": "latency",
        "metric": metric,
        "above_baseline": 1.5,
        "baseline_floor": 0.005,
        "for": "1s",
        "min_samples": 40,
        "category": "performance",
    }


def probe_view(app_url: str) -> dict[str, Any]:
    return {
        "tier": "core",
        "driver": {"type": "fake"},
        "probe": {"url": app_url + PROBE_PATH, "interval": "20ms", "window": "10s"},
        "metrics": [booking_flow(app_url, interval="250ms", window="10s")],
        "triggers": [
            _errors_above_5pct("error_rate", PROBE_MIN_SAMPLES),
            _slower_by_half("latency_p50"),
            {
                "name": "booking-flow",
                "metric": "flow_failure_rate",
                "above": 0.5,
                "for": "1s",
                "min_samples": 3,
            },
        ],
        "policy": "rollback",
        "bake_time": BAKE_TIME,
        "monitor": MONITOR,
    }


def prometheus_view(prometheus_url: str) -> dict[str, Any]:
    return {
        "tier": "core",
        "driver": {"type": "fake"},
        "metrics": {
            "type": "prometheus",
            "url": prometheus_url,
            "scrape_interval": "1s",
            "window": "10s",
            "queries": PROMETHEUS_QUERIES,
            "samples": f"sum(increase({_REQUESTS}[$window]))",
            "sample_noun": "requests",
        },
        "triggers": [
            _errors_above_5pct("error_rate", PROMETHEUS_MIN_SAMPLES),
            _slower_by_half("latency_mean"),
            {
                "name": "broken-endpoint",
                "metric": "worst_route_error_rate",
                "above": 0.5,
                "for": "1s",
                "min_samples": 40,
            },
        ],
        "policy": "rollback",
        "bake_time": BAKE_TIME,
        "monitor": MONITOR,
    }


def backout_config(app_url: str, prometheus_url: str) -> dict[str, Any]:
    return {
        "project": "detection-benchmark",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        # Alert after 10 s blind, not 10 readings (1 s here): each case's app is new, and
        # Prometheus needs two scrapes of it before rate() says anything.
        "watch": {
            "interval": f"{WATCH_INTERVAL_S * 1000:.0f}ms",
            "inconclusive_alert_after": round(10 / WATCH_INTERVAL_S),
        },
        "services": {
            PROBE_VIEW: probe_view(app_url),
            PROMETHEUS_VIEW: prometheus_view(prometheus_url),
        },
    }
