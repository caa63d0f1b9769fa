"""One run of a business flow: its steps in order, values carried from one answer to the next.

A run passes when every step does. After the first failure only the `always` steps run (the
clean-up), and of those only the ones whose variables exist: a booking that was never made is
not cancelled. The run reports its first failure, in the words a decision quotes:
"step 'book': expected 201, got 500".
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jmespath

from backout.durations import format_duration
from backout.metrics.flow_settings import MAX_RESPONSE_BYTES, Expectation, FlowSettings, FlowStep

if TYPE_CHECKING:
    import httpx

_WHOLE_PLACEHOLDER = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_SHOWN_CHARS = 80  # of a value quoted in a failure: enough to recognise, not a response dump


@dataclass(frozen=True)
class FlowRun:
    """The outcome of one run: when it began (epoch seconds), how long it took, why it failed."""

    at: float
    duration_s: float
    failure: str | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None


class StepFailed(Exception):
    """Why a step did not pass, as the end of a sentence: 'expected 201, got 500'."""


def run_flow(client: httpx.Client, settings: FlowSettings) -> FlowRun:
    """Run every step once with `client` (its base URL the flow's); never raises for a step."""
    import httpx  # noqa: PLC0415 - imported by the thread that runs flows, not by config checks

    at, started = time.time(), time.perf_counter()
    variables: dict[str, Any] = dict(settings.variables)
    failure: str | None = None
    for step in settings.steps:
        if failure is not None and (not step.always or step.variables_used() - set(variables)):
            continue
        try:
            run_step(client, step, variables)
        except StepFailed as why:
            failure = failure or f"step {step.name!r}: {why}"
        except httpx.TimeoutException:
            timeout = format_duration(settings.timeout)
            failure = failure or f"step {step.name!r}: no answer within {timeout}"
        except httpx.HTTPError as error:
            failure = failure or f"step {step.name!r}: no answer ({_describe(error)})"
    return FlowRun(at, time.perf_counter() - started, failure)


def run_step(client: httpx.Client, step: FlowStep, variables: dict[str, Any]) -> None:
    """Send the step's request, add what it extracts to `variables`, check its answer.

    Extraction comes before the JSON expectations, so that a booking made with a wrong answer
    is still known to the clean-up steps that cancel it.
    """
    path = fill(step.path, variables, for_path=True)
    headers = {name: fill(value, variables) for name, value in step.headers.items()}
    body = fill_json(step.body, variables)
    with client.stream(step.method, path, headers=headers, json=body) as response:
        check_status(step.expect, response.status_code)
        if not step.expect.body and not step.extract:
            return
        document = _json(read_bounded(response))
    variables |= extract(step.extract, document)
    check_values(step.expect, document, variables)


def fill(text: str, variables: dict[str, Any], *, for_path: bool = False) -> str:
    """`text` with each `${var}` replaced; in a path, each value is URL-quoted."""
    values = {name: _text(value) for name, value in variables.items()}
    if for_path:
        values = {name: quote(value, safe="") for name, value in values.items()}
    return Template(text).substitute(values)


def fill_json(value: Any, variables: dict[str, Any]) -> Any:
    """A JSON value with `${var}` filled into its strings; a string that is one placeholder
    alone takes the variable's value as is, so `"${session_id}"` sends the number 2, not "2"."""
    if isinstance(value, str):
        whole = _WHOLE_PLACEHOLDER.fullmatch(value)
        if whole is not None:
            return variables[whole.group(1) or whole.group(2)]
        return fill(value, variables)
    if isinstance(value, dict):
        return {key: fill_json(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [fill_json(item, variables) for item in value]
    return value


def check_status(expect: Expectation, status: int) -> None:
    accepted = expect.statuses()
    if accepted is None:
        if not 200 <= status < 300:
            raise StepFailed(f"expected 2xx, got {status}")
    elif status not in accepted:
        raise StepFailed(f"expected {' or '.join(map(str, accepted))}, got {status}")


def read_bounded(response: httpx.Response) -> bytes:
    """The body, or StepFailed when it is larger than MAX_RESPONSE_BYTES (not read further)."""
    too_large = StepFailed(f"the answer is larger than {MAX_RESPONSE_BYTES // 1024} KiB")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise too_large
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def check_values(expect: Expectation, document: Any, variables: dict[str, Any]) -> None:
    for expression, template in expect.body.items():
        expected = fill_json(template, variables)
        found = jmespath.search(expression, document)
        if not _same(found, expected):
            raise StepFailed(f"{expression} is {_show(found)}, expected {_show(expected)}")


def extract(expressions: dict[str, str], document: Any) -> dict[str, Any]:
    values = {}
    for variable, expression in expressions.items():
        found = jmespath.search(expression, document)
        if found is None:
            raise StepFailed(f"nothing to extract as {variable}: {expression} found nothing")
        values[variable] = found
    return values


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise StepFailed("the answer is not JSON") from None


def _same(found: Any, expected: Any) -> bool:
    # JSON true is not 1, though Python's True == 1.
    return bool(found == expected) and isinstance(found, bool) == isinstance(expected, bool)


def _text(value: Any) -> str:
    """A variable as it reads in a text: strings as they are, the rest as JSON (true, 7)."""
    return value if isinstance(value, str) else json.dumps(value)


def _show(value: Any) -> str:
    shown = json.dumps(value)
    return shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 1] + "…"


def _describe(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
