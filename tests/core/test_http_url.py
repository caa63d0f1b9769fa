"""Every http(s) URL in backout.yaml is checked once, at load, by the rules an HTTP client
applies when it sends: what passes here can be requested, what cannot is refused in words."""

from __future__ import annotations

import httpx
import pytest

from backout.http_url import MAX_URL_LENGTH, check_http_url, http_url_problem

ACCEPTED = [
    "http://127.0.0.1:4242/api",
    "https://prometheus.internal:9090/prefix",
    "http://admin:s3cret@unleash:4242",
    "http://[::1]:8080/health",
    "http://[fe80::1%25eth0]:80/",
    "http://héllo.example/",
    "http://api.example.com/health?full=1",
    "http://backout_api-1.internal.:8080/",
    "http://10.0.0.7/",
    "http://admin:pa%23ss%40w%2Frd@127.0.0.1:4242/",
    "http://admin:se@cret@127.0.0.1:4242/",
    "http://xn--bcher-kva.example/",
]

REFUSED = {
    "http://admin:s3cretPW@127.0.0.1:notaport/api": "port must be a number from 1 to 65535",
    "http://[::1/api": "'[' of an IPv6 host is not closed",
    "http://[::1]]/": "is not an IPv6 address and port",
    "http://[::g]/": "the host in brackets is not an IPv6 address",
    "http://host:99999/": "port must be a number from 1 to 65535",
    "http://host:-1/": "port must be a number from 1 to 65535",
    "http://host:0/": "port must be a number from 1 to 65535",
    "http://999.1.1.1/": "is not an IPv4 address",
    "http://1.2.3/": "is not an IPv4 address",
    "http://example..com/": "is not a host name",
    "http://-api-/": "is not a host name",
    "http://ex<a>mple.com/": "is not a host name",
    f"http://{'a' * 64}.example/": "is not a host name",
    "http://{port}/health": "is filled in only in a health check's url",
    "http://example.com/\u00a0x": "space, a control or an invisible formatting character",
    "http://example.com/\u2028": "space, a control or an invisible formatting character",
    "http://a\u202eb.example/": "space, a control or an invisible formatting character",
    "http://example.com\\@evil.example/": "cannot hold a backslash",
    "http://xn--a.example/": "is not a host name (IDNA)",
    "http://[v1.fe]/": "is not an IPv6 address and port",
    "http://" + "a." * 130 + "example/": "a host name is at most 253 characters",
    "http://host:8080/users/@me": "an '@' in a path written %40",
    "http://ex ample.com/": "space, a control or an invisible formatting character",
    "http://exa\tmple.com/": "space, a control or an invisible formatting character",
    "127.0.0.1:4242": "expected an http:// or https:// URL with a host",
    "ftp://files.example.com/": "expected an http:// or https:// URL with a host",
    "http:///health": "expected an http:// or https:// URL with a host",
    "http://☃.example/": "is not a host name (IDNA)",
}


@pytest.mark.parametrize("url", ACCEPTED)
def test_a_url_that_passes_can_be_requested_by_an_http_client(url: str) -> None:
    assert http_url_problem(url) is None

    httpx.Request("GET", url)  # raises httpx.InvalidURL on what it cannot send


@pytest.mark.parametrize(("url", "problem"), REFUSED.items())
def test_a_url_a_request_cannot_go_to_is_refused_in_words(url: str, problem: str) -> None:
    found = http_url_problem(url)

    assert found is not None
    assert problem in found


def test_a_refusal_never_quotes_the_password_of_the_url() -> None:
    found = http_url_problem("http://admin:s3cretPW@127.0.0.1:notaport/api")

    assert found is not None
    assert "s3cretPW" not in found
    assert "http://admin:***@127.0.0.1:notaport/api" in found


def test_a_url_longer_than_the_bound_is_refused_without_being_quoted() -> None:
    found = http_url_problem("http://example.com/" + "a" * MAX_URL_LENGTH)

    assert found == f"a URL is at most {MAX_URL_LENGTH} characters, this one has 2067"


def test_a_base_url_has_no_query_and_loses_its_trailing_slash() -> None:
    assert check_http_url("http://prometheus:9090/prefix/", base=True) == (
        "http://prometheus:9090/prefix"
    )
    with pytest.raises(ValueError, match="without '\\?' or '#'"):
        check_http_url("http://prometheus:9090/?x=1", base=True)


def test_the_port_placeholder_is_accepted_only_where_it_is_filled_in() -> None:
    url = "http://127.0.0.1:{port}/health"

    assert check_http_url(url, port_placeholder=True) == url
    with pytest.raises(ValueError, match="filled in only in a health check's url"):
        check_http_url(url)


def test_a_health_check_url_is_quoted_as_written_not_as_filled_in() -> None:
    found = http_url_problem("http://{port}/health?token=abcdef123", port_placeholder=True)

    assert found is not None
    assert "'{port}' is not a host name" in found
    assert "http://{port}/health?token=***" in found


@pytest.mark.parametrize(
    "url",
    [
        "http://admin:s3cret PW@127.0.0.1/",
        "http://admin:pa#ss99XYZ@127.0.0.1:4242/",
        "http://admin:pa/ss99XYZ@127.0.0.1:4242/",
        "http://admin:pa?ss99XYZ@127.0.0.1:4242/",
        "http://admin:1234/ss99XYZ@127.0.0.1:4242/",
        "http://admin:pa[ss99XYZ@127.0.0.1:4242/",
        "http://admin:x://99XYZ@127.0.0.1:4242/",
    ],
)
def test_a_password_that_is_not_percent_encoded_is_masked_all_the_same(url: str) -> None:
    found = http_url_problem(url)

    assert found is not None
    assert "99XYZ" not in found
    assert "s3cret" not in found
    assert "http://admin:***@127.0.0.1" in found


@pytest.mark.parametrize(
    "url",
    [
        "http://admin:12#34@127.0.0.1/",
        "http://admin:pa#ss99XYZ@127.0.0.1:4242/",
        "http://admin:pa]ss@127.0.0.1/",
    ],
)
def test_an_unencoded_password_is_named_as_the_problem_not_as_a_port_or_a_host(
    url: str,
) -> None:
    for base in (False, True):
        found = http_url_problem(url, base=base)

        assert found is not None
        assert found.startswith("an '@' after the host: a password's # / ? [ ] must be")


@pytest.mark.parametrize(
    "url", ["admin:s3cretZZ@host.example/", "http:/admin:s3cretZZ@host.example/"]
)
def test_a_url_missing_its_scheme_is_quoted_with_all_before_its_at_masked(url: str) -> None:
    assert http_url_problem(url) == (
        "expected an http:// or https:// URL with a host: '***@host.example/'"
    )


def test_a_base_url_ending_in_a_bare_question_mark_is_refused() -> None:
    with pytest.raises(ValueError, match="without '\\?' or '#'"):
        check_http_url("http://prometheus:9090/?", base=True)
    with pytest.raises(ValueError, match="without '\\?' or '#'"):
        check_http_url("http://prometheus:9090#", base=True)
