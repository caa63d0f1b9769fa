"""PromQL for the Prometheus metric source: query templates, and one instant query over HTTP.

Queries are `string.Template`s (PromQL is full of braces, so not `str.format`) with the
variables of TEMPLATE_VARIABLES; a value is escaped for a PromQL string literal, which is where
a query puts it (`{job="$service", version="$version"}`).

`instant_query` reads `GET /api/v1/query` and gives one number, None for an empty answer, or
raises QueryFailed with a sentence a person can act on (never a traceback, never a secret).
"""

from __future__ import annotations

import math
from string import Template
from typing import TYPE_CHECKING, Any

from backout.durations import format_duration
from backout.errors import BackoutError
from backout.redact import redact

if TYPE_CHECKING:
    import httpx

TEMPLATE_VARIABLES = ("service", "version", "environment", "window")
QUERY_PATH = "/api/v1/query"


class QueryFailed(BackoutError):
    """Prometheus could not answer a query: unreachable, an HTTP error, a query error."""


def check_template(query: str) -> str:
    """`query`, if each `$name` in it is a known variable; a ValueError naming it otherwise."""
    template = Template(query)
    if not template.is_valid():
        raise ValueError("a '$' that starts no variable name: write '$$' for a literal '$'")
    unknown = sorted(set(template.get_identifiers()) - set(TEMPLATE_VARIABLES))
    if unknown:
        known = ", ".join(f"${name}" for name in TEMPLATE_VARIABLES)
        raise ValueError(f"unknown variable ${unknown[0]} (known: {known})")
    return query


def uses(query: str, variable: str) -> bool:
    return variable in Template(query).get_identifiers()


def render(query: str, values: dict[str, str]) -> str:
    """The PromQL of `query` with `values` filled in, each escaped for a string literal."""
    escaped = {k: v.replace("\\", "\\\\").replace('"', '\\"') for k, v in values.items()}
    return Template(query).substitute(escaped)


def promql_duration(seconds: float) -> str:
    """A range for PromQL, in whole milliseconds ('4s', '1500ms')."""
    millis = max(math.ceil(seconds * 1000), 1)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def instant_query(
    client: httpx.Client, base_url: str, promql: str, *, at: float, timeout_s: float
) -> float | None:
    """The value of `promql` at `at` (epoch seconds): one number, or None when the answer is an
    empty vector or NaN (0/0: a rate of no requests). Raises QueryFailed."""
    import httpx  # noqa: PLC0415 - the source module is imported lazily; so is its client

    where = f"Prometheus at {redact(base_url)}"
    params = {"query": promql, "time": f"{at:.3f}", "timeout": promql_duration(timeout_s)}
    try:
        response = client.get(base_url.rstrip("/") + QUERY_PATH, params=params)
    except httpx.TimeoutException:
        raise QueryFailed(f"{where} did not answer within {format_duration(timeout_s)}") from None
    except httpx.HTTPError as error:
        raise QueryFailed(f"{where} is not reachable: {error or type(error).__name__}") from None
    body = _json_body(response)
    if body is None:
        status = response.status_code
        raise QueryFailed(f"{where} answered HTTP {status} without the query API's JSON")
    if body.get("status") != "success":
        kind, reason = body.get("errorType", "error"), body.get("error", "no reason given")
        raise QueryFailed(f"{where} refused the query ({kind}: {reason})")
    return _one_number(body.get("data"))


def _json_body(response: httpx.Response) -> dict[str, Any] | None:
    """The API's JSON (an error has a JSON body too: 400 bad_data, 422 execution, 503 timeout)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _one_number(data: Any) -> float | None:
    if not isinstance(data, dict):
        raise QueryFailed("Prometheus answered without data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        return _number(result)
    if kind != "vector" or not isinstance(result, list):
        raise QueryFailed(f"the query gives a {kind}, not an instant vector or a scalar")
    if not result:
        return None
    if len(result) > 1:
        raise QueryFailed(
            f"the query gives {len(result)} series, not one: aggregate them "
            "(sum, max, histogram_quantile ... by nothing)"
        )
    series = result[0]
    return _number(series.get("value") if isinstance(series, dict) else None)


def _number(sample: Any) -> float | None:
    """The value of a `[time, "value"]` pair; NaN is no measurement."""
    try:
        value = float(sample[1])
    except (TypeError, ValueError, IndexError):
        raise QueryFailed("Prometheus answered a sample that is not a number") from None
    return None if math.isnan(value) else value
