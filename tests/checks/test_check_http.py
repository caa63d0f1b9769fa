"""The `http` check against a real HTTP server on a loopback port."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from backout.checks import Check
from backout.errors import ConfigError

if TYPE_CHECKING:
    from conftest import WebServer

BuildCheck = Callable[..., Check]

MS = r"\d+ms"


def test_a_healthy_endpoint_passes_and_says_what_it_saw(web: WebServer, build: BuildCheck) -> None:
    result = build("http", url=web.url()).run(timeout=2)

    assert result.ok
    assert result.expected == "HTTP 200"
    assert re.fullmatch(f"HTTP 200 after {MS}", result.observed)
    assert 0 < result.duration_s < 2


def test_the_name_defaults_to_method_and_path(web: WebServer, build: BuildCheck) -> None:
    assert build("http", url=web.url("/health?deep=1")).name == "http GET /health?deep=1"
    assert build("http", url=web.url(""), method="head").name == "http HEAD /"
    assert build("http", url=web.url(), name="api health").name == "api health"


def test_building_a_check_sends_no_request(web: WebServer, build: BuildCheck) -> None:
    build("http", url=web.url())

    assert web.seen == []


def test_an_unexpected_status_fails_and_quotes_the_start_of_the_body(
    web: WebServer, build: BuildCheck
) -> None:
    web.respond(status=503, body="database unavailable\nretry later")

    result = build("http", url=web.url()).run(timeout=2)

    assert not result.ok
    assert re.fullmatch(f"HTTP 503 after {MS}: 'database unavailable'", result.observed)


def test_any_of_several_expected_statuses_passes(web: WebServer, build: BuildCheck) -> None:
    web.respond(status=204, body="")
    check = build("http", url=web.url(), expect_status=[200, 204])

    result = check.run(timeout=2)

    assert result.ok
    assert result.expected == "HTTP 200 or 204"


def test_a_body_without_the_expected_text_fails(web: WebServer, build: BuildCheck) -> None:
    web.respond(body="starting")
    check = build("http", url=web.url(), expect_body="ready")

    result = check.run(timeout=2)

    assert not result.ok
    assert result.expected == "HTTP 200, body contains 'ready'"
    assert re.fullmatch(f"HTTP 200 after {MS}, body lacks 'ready'", result.observed)


def test_a_body_with_the_expected_text_passes(web: WebServer, build: BuildCheck) -> None:
    web.respond(body="all systems ready")

    assert build("http", url=web.url(), expect_body="ready").run(timeout=2).ok


def _respond_json(web: WebServer, document: Any) -> None:
    web.respond(body=json.dumps(document), content_type="application/json")


def test_json_fields_that_match_pass(web: WebServer, build: BuildCheck) -> None:
    _respond_json(web, {"status": "ok", "db": "up", "version": "1.4.0"})
    check = build("http", url=web.url(), expect_json={"status": "ok", "db": "up"})

    result = check.run(timeout=2)

    assert result.ok
    assert result.expected == 'HTTP 200, JSON status="ok", JSON db="up"'


def test_a_json_field_with_another_value_fails_and_shows_that_value(
    web: WebServer, build: BuildCheck
) -> None:
    _respond_json(web, {"status": "ok", "db": "down"})
    check = build("http", url=web.url(), expect_json={"status": "ok", "db": "up"})

    result = check.run(timeout=2)

    assert not result.ok
    assert re.fullmatch(f'HTTP 200 after {MS}, JSON db="down"', result.observed)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<html>maintenance</html>", "body is not JSON"),
        ("[1, 2]", "JSON body is not an object"),
        ('{"state": "ok"}', "JSON has no 'status'"),
        ('{"status": true}', "JSON status=true"),
    ],
)
def test_a_json_body_of_the_wrong_shape_fails_saying_how(
    web: WebServer, build: BuildCheck, body: str, problem: str
) -> None:
    web.respond(body=body)
    check = build("http", url=web.url(), expect_json={"status": "ok"})

    result = check.run(timeout=2)

    assert not result.ok
    assert result.observed.endswith(problem)


def test_json_true_is_not_the_number_one(web: WebServer, build: BuildCheck) -> None:
    _respond_json(web, {"replicas": True})

    result = build("http", url=web.url(), expect_json={"replicas": 1}).run(timeout=2)

    assert not result.ok
    assert result.observed.endswith("JSON replicas=true")


def test_an_answer_slower_than_max_response_time_fails(web: WebServer, build: BuildCheck) -> None:
    web.respond(delay_s=0.3)
    check = build("http", url=web.url(), max_response_time="100ms")

    result = check.run(timeout=3)

    assert not result.ok
    assert result.expected == "HTTP 200, answer within 100ms"
    assert re.fullmatch(f"HTTP 200 after {MS}, slower than 100ms", result.observed)


def test_an_answer_within_max_response_time_passes(web: WebServer, build: BuildCheck) -> None:
    assert build("http", url=web.url(), max_response_time="2s").run(timeout=3).ok


def test_a_refused_connection_is_a_failed_result(closed_port: int, build: BuildCheck) -> None:
    result = build("http", url=f"http://127.0.0.1:{closed_port}/health").run(timeout=2)

    assert not result.ok
    assert result.observed == f"connection refused (127.0.0.1:{closed_port})"


def test_an_unresolvable_host_is_a_failed_result(build: BuildCheck) -> None:
    result = build("http", url="http://no-such-host.invalid/health").run(timeout=5)

    assert not result.ok
    assert result.observed.startswith("cannot resolve host 'no-such-host.invalid' (")


def test_no_answer_within_the_timeout_is_a_failed_result(web: WebServer, build: BuildCheck) -> None:
    web.respond(delay_s=30)

    result = build("http", url=web.url()).run(timeout=0.3)

    assert not result.ok
    assert result.observed == "timed out after 300ms"
    assert result.duration_s < 0.8


def test_a_body_trickled_past_the_timeout_is_cut_at_the_timeout(
    web: WebServer, build: BuildCheck
) -> None:
    # Each byte comes well within a read timeout, so only a deadline on the whole exchange stops it.
    web.respond(body="x" * 100, trickle_s=0.05)

    result = build("http", url=web.url()).run(timeout=0.5)

    assert not result.ok
    assert result.observed == "timed out after 500ms"
    assert result.duration_s < 1.0


def test_the_method_and_headers_are_sent(web: WebServer, build: BuildCheck) -> None:
    check = build("http", url=web.url(), method="post", headers={"Authorization": "Bearer t0k"})

    assert check.run(timeout=2).ok
    assert web.seen[-1].method == "POST"
    assert web.seen[-1].headers["Authorization"] == "Bearer t0k"


def test_a_redirect_is_judged_as_such_unless_following_is_asked(
    web: WebServer, build: BuildCheck
) -> None:
    web.respond("/old", status=302, body="", location="/health")

    staying = build("http", url=web.url("/old")).run(timeout=2)
    following = build("http", url=web.url("/old"), follow_redirects=True).run(timeout=2)

    assert not staying.ok
    assert staying.observed.startswith("HTTP 302 after")
    assert following.ok
    assert [seen.path for seen in web.seen] == ["/old", "/old", "/health"]


def test_a_self_signed_certificate_fails_unless_verification_is_off(
    tls_web: WebServer, build: BuildCheck
) -> None:
    verified = build("http", url=tls_web.url()).run(timeout=2)
    unverified = build("http", url=tls_web.url(), verify_tls=False).run(timeout=2)

    assert not verified.ok
    assert re.fullmatch(
        r"TLS certificate of 127\.0\.0\.1:\d+ not trusted \(self.signed certificate\)",
        verified.observed,
    )
    assert unverified.ok


def _problems(build: BuildCheck, **settings: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        build("http", **settings)
    assert raised.value.path == "backout.yaml"
    return raised.value.problems


def test_a_missing_url_is_a_config_error_naming_the_key(build: BuildCheck) -> None:
    assert _problems(build) == ["services.api.health[0].url: required key is missing"]


def test_a_misspelt_key_is_a_config_error_naming_it(build: BuildCheck) -> None:
    problems = _problems(build, url="http://127.0.0.1/", expect_staus=200)

    assert [p.split(":")[0] for p in problems] == ["services.api.health[0].expect_staus"]


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ({"url": "ftp://example.com/"}, "url", "http:// or https://"),
        ({"url": "health"}, "url", "http:// or https://"),
        ({"max_response_time": "soon"}, "max_response_time", "duration"),
        ({"max_response_time": 0}, "max_response_time", "longer than zero"),
        ({"expect_status": 999}, "expect_status[0]", "less than or equal to 599"),
        ({"expect_status": []}, "expect_status", "at least one status code"),
        ({"method": "FETCH"}, "method", "GET"),
        ({"method": "HEAD", "expect_body": "ok"}, "", "HEAD answer has no body"),
    ],
)
def test_invalid_settings_are_config_errors_naming_the_key(
    build: BuildCheck, settings: dict[str, Any], key: str, words: str
) -> None:
    problems = _problems(build, **{"url": "http://127.0.0.1/health", **settings})

    assert len(problems) == 1
    where, _, message = problems[0].partition(": ")
    assert where == "services.api.health[0]" + (f".{key}" if key else "")
    assert words in message


def test_a_single_status_may_be_written_as_a_string(web: WebServer, build: BuildCheck) -> None:
    web.respond(status=201)

    assert build("http", url=web.url(), expect_status="201").run(timeout=2).ok
