"""The `http` check: one request, judged on its status, body, JSON fields and response time.

The request runs in a worker thread that the caller stops waiting for at `timeout`, so the
check returns on time even when a server trickles its answer byte by byte (httpx's own
timeouts apply to each read, not to the whole exchange). A worker left behind ends by itself
when httpx's per-read timeout expires.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from backout.checks._address import host_and_port
from backout.checks._deadline import call_within
from backout.checks.base import CheckResult, CheckSettings
from backout.durations import Duration, format_duration
from backout.http_url import check_http_url
from backout.registry import PluginContext

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

T = TypeVar("T")
_MAX_BODY_BYTES = 1024 * 1024  # a health answer is small; more is read no further
_SNIPPET_CHARS = 80

StatusCode = Annotated[int, Field(ge=100, le=599)]


def _one_or_many(value: Any) -> Any:
    if isinstance(value, list | tuple) and not value:
        raise ValueError("give at least one status code")
    return [value] if isinstance(value, int | str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class HttpCheckSettings(CheckSettings):
    url: Annotated[str, AfterValidator(partial(check_http_url, port_placeholder=True))] = Field(
        description="The URL to request, e.g. http://127.0.0.1:{port}/health ({port}: where the "
        "version under check listens)."
    )
    method: Annotated[
        Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        BeforeValidator(_upper),
    ] = Field("GET", description="The HTTP method of the request.")
    expect_status: Annotated[tuple[StatusCode, ...], BeforeValidator(_one_or_many)] = Field(
        (200,), description="The status code, or list of codes, that counts as up."
    )
    expect_body: str | None = Field(
        None, min_length=1, description="A text the response body must contain."
    )
    expect_json: dict[str, Any] | None = Field(
        None,
        description="Top-level keys of the JSON body and the value each must have, "
        'e.g. {status: "ok"}.',
    )
    max_response_time: Duration | None = Field(
        None, description="A slower complete answer fails the check, e.g. 500ms or 2s."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers, e.g. an Authorization token."
    )
    follow_redirects: bool = Field(
        False, description="Follow 3xx answers to their target instead of judging the 3xx."
    )
    verify_tls: bool = Field(
        True, description="Verify the server's TLS certificate (turn off for self-signed)."
    )
    name: str | None = Field(
        None, min_length=1, description="Name in results; default like 'http GET /health'."
    )

    @field_validator("max_response_time")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @model_validator(mode="after")
    def _head_has_no_body(self) -> HttpCheckSettings:
        if self.method == "HEAD" and (self.expect_body or self.expect_json):
            raise ValueError("a HEAD answer has no body: use GET with expect_body/expect_json")
        return self


@dataclass(frozen=True)
class _Answer:
    status: int
    seconds: float
    text: str


class HttpCheck:
    """Sends one request and compares the answer with what the settings expect."""

    def __init__(self, settings: HttpCheckSettings, context: PluginContext) -> None:
        self._settings = settings
        self._name = settings.name or _default_name(settings)

    @property
    def name(self) -> str:
        return self._name

    @property
    def timeout(self) -> float:
        return self._settings.timeout.total_seconds()

    def run(self, timeout: float) -> CheckResult:
        started = time.monotonic()
        answer = call_within(lambda: self._fetch(timeout), timeout, name="backout-http-check")
        if answer is None:
            ok, observed = False, f"timed out after {format_duration(timeout)}"
        elif isinstance(answer, str):
            ok, observed = False, answer
        else:
            ok, observed = self._judge(answer)
        result = CheckResult(
            name=self._name,
            ok=ok,
            expected=self._expected(),
            observed=observed,
            duration_s=time.monotonic() - started,
        )
        logger.debug("%s", result.sentence())
        return result

    def _fetch(self, timeout: float) -> _Answer | str:
        """The answer, or a sentence saying why there is none."""
        import httpx  # noqa: PLC0415 - loaded by the first check that runs, not by the CLI

        s = self._settings
        started = time.monotonic()
        try:
            with (
                httpx.Client(
                    timeout=timeout, follow_redirects=s.follow_redirects, verify=s.verify_tls
                ) as client,
                client.stream(s.method, s.url, headers=s.headers) as response,
            ):
                text = _read_text(response)
                return _Answer(response.status_code, time.monotonic() - started, text)
        except httpx.TimeoutException:
            return f"timed out after {format_duration(timeout)}"
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            return _transport_failure(error, s.url)

    def _judge(self, answer: _Answer) -> tuple[bool, str]:
        observed = f"HTTP {answer.status} after {_took(answer.seconds)}"
        if answer.status not in self._settings.expect_status:
            snippet = _first_line(answer.text)
            return False, observed + (f": {snippet!r}" if snippet else "")
        problems = self._body_problems(answer.text)
        limit = self._settings.max_response_time
        if limit is not None and answer.seconds > limit.total_seconds():
            problems.append(f"slower than {format_duration(limit)}")
        return not problems, ", ".join([observed, *problems])

    def _body_problems(self, text: str) -> list[str]:
        s = self._settings
        problems = []
        if s.expect_body is not None and s.expect_body not in text:
            problems.append(f"body lacks {s.expect_body!r}")
        if s.expect_json is not None:
            problems.extend(_json_problems(text, s.expect_json))
        return problems

    def _expected(self) -> str:
        s = self._settings
        parts = ["HTTP " + " or ".join(str(code) for code in s.expect_status)]
        if s.expect_body is not None:
            parts.append(f"body contains {s.expect_body!r}")
        if s.expect_json is not None:
            parts.extend(f"JSON {key}={_dump(value)}" for key, value in s.expect_json.items())
        if s.max_response_time is not None:
            parts.append(f"answer within {format_duration(s.max_response_time)}")
        return ", ".join(parts)


def _default_name(settings: HttpCheckSettings) -> str:
    url = urlsplit(settings.url)
    return f"http {settings.method} {url.path or '/'}{'?' + url.query if url.query else ''}"


def _read_text(response: httpx.Response) -> str:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) >= _MAX_BODY_BYTES:
            break
    return body.decode(response.encoding or "utf-8", errors="replace")


def _transport_failure(error: Exception, url: str) -> str:
    """Say why no answer came from `url`'s host, in the words of the operating system where it
    has them: the check's name gives the path only, and a person needs the host to look at."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    where = host_and_port(host, parts.port or (443 if parts.scheme == "https" else 80))
    reason = _os_error_behind(error)
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused ({where})"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host {host!r} ({reason.strerror})"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate of {where} not trusted ({reason.verify_message})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS with {where} failed ({reason.reason or reason})"
    if reason is not None and reason.strerror:
        return f"cannot connect to {where} ({reason.strerror})"
    return f"no answer from {where} ({str(error) or type(error).__name__})"


def _os_error_behind(error: BaseException) -> OSError | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _json_problems(text: str, expected: dict[str, Any]) -> list[str]:
    try:
        document = json.loads(text)
    except ValueError:
        return ["body is not JSON"]
    if not isinstance(document, dict):
        return ["JSON body is not an object"]
    problems = []
    for key, value in expected.items():
        if key not in document:
            problems.append(f"JSON has no {key!r}")
        elif not _same_json(document[key], value):
            problems.append(f"JSON {key}={_dump(document[key])}")
    return problems


def _same_json(actual: Any, expected: Any) -> bool:
    # True == 1 in Python, but a JSON true is not the number 1.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return bool(actual == expected)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= _SNIPPET_CHARS else line[: _SNIPPET_CHARS - 1] + "…"


def _took(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.2f}s"
