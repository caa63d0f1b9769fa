"""The settings of a business flow (metric source `flow`), checked whole when the config loads.

Besides each key's own bounds, a flow is checked as a sequence: step names are unique, every
JMESPath expression compiles, and every `${var}` a step uses is defined before it runs, by
`variables:` or by an earlier step's `extract:`. Each problem names its key
(`services.api.metrics.steps[2].path`), as any other config error.
"""

from __future__ import annotations

import re
from datetime import timedelta
from string import Template
from typing import Annotated, Any, Literal, Self

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from backout.durations import Duration, PositiveDuration, at_least, at_most
from backout.http_url import http_url_problem
from backout.registry import PluginSettings

MAX_STEPS = 20
"""A flow is a short transaction; more steps are a test suite, not a health signal."""

MAX_RESPONSE_BYTES = 1024 * 1024
"""The most of one response a flow reads: an endless body must not fill backout's memory."""

MAX_REQUEST_TIMEOUT = timedelta(minutes=1)
MIN_INTERVAL = timedelta(milliseconds=100)
MAX_INTERVAL = timedelta(hours=1)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

Scalar = str | int | float | bool
HttpStatus = Annotated[int, Field(ge=100, le=599)]
Loc = tuple[str | int, ...]


class Expectation(PluginSettings):
    """What a step's answer must be for the step to pass."""

    status: HttpStatus | list[HttpStatus] | None = Field(
        None, description="The status, or one of several; default: any 2xx."
    )
    body: dict[str, Any] = Field(
        default_factory=dict,
        alias="json",
        description="JMESPath expression -> the value it must find in the JSON answer "
        "(${var} filled in, as in the JSON sent).",
    )

    def statuses(self) -> list[int] | None:
        """The accepted statuses, or None for any 2xx."""
        if self.status is None:
            return None
        return [self.status] if isinstance(self.status, int) else list(self.status)


class FlowStep(PluginSettings):
    """One request of the flow; `${var}` in its path, header values and JSON strings (sent and
    expected)."""

    name: str = Field(description="Names the step in failures: step 'book': expected 201 ...")
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field(description="Below base_url, starting with /: /api/bookings/${booking}.")
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    body: Any = Field(None, alias="json", description="A JSON body to send, if any.")
    expect: Expectation = Field(
        default_factory=Expectation, description="The answer's status and JSON values."
    )
    extract: dict[str, str] = Field(
        default_factory=dict,
        description="Variable -> JMESPath expression on the JSON answer, for later steps.",
    )
    always: bool = Field(
        False, description="Run even after an earlier step failed (clean-up: cancel a booking)."
    )

    def variables_used(self) -> set[str]:
        """The names of the `${var}` the step fills in."""
        return {
            name
            for _, text in templated_texts(self, ())
            for name in Template(text).get_identifiers()
        }


class FlowSettings(PluginSettings):
    """A business flow: a short sequence of HTTP requests run every `interval`."""

    name: str | None = Field(None, description="Names the flow in evidence; default: its steps.")
    base_url: str = Field(description="Where the service answers: http://127.0.0.1:8000.")
    interval: Annotated[Duration, at_least(MIN_INTERVAL), at_most(MAX_INTERVAL)] = Field(
        timedelta(seconds=10), description="Time between runs (100ms to 1h)."
    )
    timeout: Annotated[PositiveDuration, at_most(MAX_REQUEST_TIMEOUT)] = Field(
        timedelta(seconds=5), description="Per request; a slower answer fails its step (max 1m)."
    )
    window: Annotated[Duration, at_least(timedelta(seconds=1))] = Field(
        timedelta(minutes=2), description="The sliding window of runs the metrics cover."
    )
    variables: dict[str, Scalar] = Field(
        default_factory=dict, description="Constants the steps use as ${name}."
    )
    steps: list[FlowStep] = Field(
        min_length=1,
        max_length=MAX_STEPS,
        description=f"The requests, in order (1 to {MAX_STEPS}).",
    )

    @model_validator(mode="after")
    def _a_runnable_sequence(self) -> Self:
        problems = _sequence_problems(self)
        if problems:
            # Raised as a ValidationError of its own so that each problem keeps its key path.
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def title(self) -> str:
        """The flow's name, or its steps: 'signin → book → read → cancel'."""
        return self.name or " → ".join(step.name for step in self.steps)


def _problem(loc: Loc, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("flow", message), loc=loc, input=value)


def _sequence_problems(settings: FlowSettings) -> list[InitErrorDetails]:
    problems = []
    # Checked with the sequence, not as a field, so one refusal lists every problem of the flow.
    base_url_problem = http_url_problem(settings.base_url, base=True)
    if base_url_problem:
        problems.append(_problem(("base_url",), base_url_problem, settings.base_url))
    if settings.window < settings.interval:
        problems.append(_problem(("window",), "must be at least the interval", settings.window))
    problems += [
        _problem(("variables", name), "a variable name is letters, digits and _", name)
        for name in settings.variables
        if not _VARIABLE.match(name)
    ]
    defined = set(settings.variables)
    seen: set[str] = set()
    for index, step in enumerate(settings.steps):
        where: Loc = ("steps", index)
        if step.name in seen:
            problems.append(_problem((*where, "name"), "another step has this name", step.name))
        seen.add(step.name)
        problems += _step_problems(step, where, defined)
        defined |= set(step.extract)
    return problems


def _step_problems(step: FlowStep, where: Loc, defined: set[str]) -> list[InitErrorDetails]:
    problems = []
    if not _NAME.match(step.name):
        message = "a step name is up to 64 letters, digits, _ . or -"
        problems.append(_problem((*where, "name"), message, step.name))
    if not step.path.startswith("/"):
        problems.append(_problem((*where, "path"), "must start with /", step.path))
    for loc, text in templated_texts(step, where):
        problems += _template_problems(loc, text, defined)
    for expression in step.expect.body:
        problems += _jmespath_problems((*where, "expect", "json", expression), expression)
    for variable, expression in step.extract.items():
        loc = (*where, "extract", variable)
        if not _VARIABLE.match(variable):
            problems.append(_problem(loc, "a variable name is letters, digits and _", variable))
        problems += _jmespath_problems(loc, expression)
    return problems


def templated_texts(step: FlowStep, where: Loc) -> list[tuple[Loc, str]]:
    """Every text of the step that `${var}` is filled into, with its key path: the path, header
    values, and the strings of the JSON sent and of the values expected."""
    texts: list[tuple[Loc, str]] = [((*where, "path"), step.path)]
    texts += [((*where, "headers", name), value) for name, value in step.headers.items()]
    texts += _json_strings(step.body, (*where, "json"))
    for expression, expected in step.expect.body.items():
        texts += _json_strings(expected, (*where, "expect", "json", expression))
    return texts


def _json_strings(value: Any, loc: Loc) -> list[tuple[Loc, str]]:
    if isinstance(value, str):
        return [(loc, value)]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in _json_strings(item, (*loc, str(key)))]
    if isinstance(value, list):
        return [s for i, item in enumerate(value) for s in _json_strings(item, (*loc, i))]
    return []


def _template_problems(loc: Loc, text: str, defined: set[str]) -> list[InitErrorDetails]:
    template = Template(text)
    if not template.is_valid():
        return [_problem(loc, "not a valid ${name} template (write $$ for a lone $)", text)]
    return [
        _problem(
            loc,
            f"${{{name}}} is not defined: no earlier step extracts it, and variables: does "
            "not set it",
            text,
        )
        for name in template.get_identifiers()
        if name not in defined
    ]


def _jmespath_problems(loc: Loc, expression: str) -> list[InitErrorDetails]:
    try:
        jmespath.compile(expression)
    except JMESPathError as error:
        reason = " ".join(str(error).split())
        return [_problem(loc, f"not a JMESPath expression: {reason}", expression)]
    return []
