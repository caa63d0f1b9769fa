"""The one check of every http(s) URL backout.yaml gives: refused at load, in words, so no
command later fails on it with an HTTP client's traceback.

`urllib.parse`, not httpx: validating a config must not load an HTTP client (CLI start-up), except
for a host name that is not ASCII. What urllib lets through but an HTTP client refuses when it
sends (a control character, a bad IPv4 address, a stray `]`, a port out of range) is refused too,
and so is a host no resolver can look up (`example..com`, `-api-`, `1.2.3`).

An `@` after the host is refused: it is a password's `#`, `/` or `?` left unencoded
(`http://admin:12#34@host/` would go to the host `admin`, port 12, and show the rest in every
message). A refusal quotes the URL with everything before its last `@` masked but the scheme and
the user, even where no parser finds a password: when in doubt, hide more.
"""

from __future__ import annotations

import ipaddress
import re
from functools import partial
from typing import Annotated
from urllib.parse import SplitResult, urlsplit

from pydantic import AfterValidator

from backout.redact import MASK, redact

PORT_PLACEHOLDER = "{port}"
"""Stands for the port the version under check listens on (health checks only)."""

MAX_URL_LENGTH = 2048
MAX_HOST_LENGTH = 253  # DNS's bound on a name
# `\s` in a str pattern is every Unicode space (a no-break space, a line separator) as well;
# the invisible format characters (a bidirectional override) would disguise a URL in a terminal.
_CONTROL_OR_SPACE = re.compile(
    r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]|\s"
)
# A DNS label (RFC 1123), with `_` as container and service names use it.
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")

PORT_RULE = "the port must be a number from 1 to 65535"
PERCENT_ENCODING_RULE = (
    "an '@' after the host: a password's # / ? [ ] must be percent-encoded "
    "(%23 %2F %3F %5B %5D), an '@' in a path written %40"
)


def http_url_problem(
    value: str, *, base: bool = False, port_placeholder: bool = False
) -> str | None:
    """What is wrong with `value` as an http(s) URL, in words that never quote a password;
    None when nothing is. `base`: a base URL, to which paths are added (no query, no fragment).
    `port_placeholder`: `{port}` may stand for the port (a health check's url)."""
    if len(value) > MAX_URL_LENGTH:
        return f"a URL is at most {MAX_URL_LENGTH} characters, this one has {len(value)}"
    if port_placeholder:
        problem = _parts_problem(value.replace(f":{PORT_PLACEHOLDER}", ":1"), base=base)
    elif PORT_PLACEHOLDER in value:
        problem = f"{PORT_PLACEHOLDER} is filled in only in a health check's url"
    else:
        problem = _parts_problem(value, base=base)
    return f"{problem}: {_quoted_with_password_masked(value)}" if problem else None


def _quoted_with_password_masked(value: str) -> str:
    """`value` quoted for a message, everything between `scheme://user:` and its last `@`
    masked (all before that `@` when `scheme://` is mistyped)."""
    before, at, after = value.rpartition("@")
    if not at:
        return repr(redact(value))
    head, separator, user_information = before.partition("://")
    if not separator:
        return repr(f"{MASK}@{redact(after)}")
    user, colon, _password = user_information.partition(":")
    return repr(f"{head}://{user}:{MASK}@{redact(after)}" if colon else redact(value))


def _parts_problem(value: str, *, base: bool) -> str | None:
    character_problem = _character_problem(value)
    if character_problem:
        return character_problem
    try:
        parts = urlsplit(value)
    except ValueError:  # urllib's own words quote parts of the URL: ours do not
        return _bracket_problem(value)
    if "@" in value.partition("://")[2] and "@" not in parts.netloc:
        return PERCENT_ENCODING_RULE
    if base and ("?" in value or "#" in value):
        return "expected a base URL, without '?' or '#'"
    return _authority_problem(parts) or _host_problem(parts)


def _character_problem(value: str) -> str | None:
    if _CONTROL_OR_SPACE.search(value):
        return "a URL cannot hold a space, a control or an invisible formatting character"
    if "\\" in value:  # urllib reads `a\@b` as the host b, a browser as the host a
        return "a URL cannot hold a backslash (write / or %5C)"
    return None


def _authority_problem(parts: SplitResult) -> str | None:
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL with a host"
    return None if _port_is_valid(parts) else PORT_RULE


def _port_is_valid(parts: SplitResult) -> bool:
    try:
        return parts.port != 0
    except ValueError:  # not a number, or out of 0-65535
        return False


def _bracket_problem(value: str) -> str:
    """Why urlsplit refused `value`: brackets, in the password or around the host."""
    authority = value.partition("://")[2].partition("/")[0]
    user_information, _, host_and_port = authority.rpartition("@")
    if "[" in user_information or "]" in user_information:
        return PERCENT_ENCODING_RULE
    if "[" in host_and_port and "]" not in host_and_port:
        return "the '[' of an IPv6 host is not closed (write http://[::1]:8080/)"
    if "[" in host_and_port:
        return "the host in brackets is not an IPv6 address (write http://[::1]:8080/)"
    return "not a URL a request can be sent to"


def _host_problem(parts: SplitResult) -> str | None:
    """What an HTTP client or a resolver would refuse in the host."""
    host_and_port = parts.netloc.rpartition("@")[2]
    if host_and_port.startswith("["):  # urlsplit checked the address, not what follows it
        after_bracket = host_and_port.partition("]")[2]
        bad_port = after_bracket and not after_bracket.startswith(":")
        ipv_future = (parts.hostname or "").startswith("v")  # `[v1.fe]`: no client sends it
        return (
            f"{host_and_port!r} is not an IPv6 address and port" if bad_port or ipv_future else None
        )
    host = parts.hostname or ""
    if len(host) > MAX_HOST_LENGTH:
        return f"a host name is at most {MAX_HOST_LENGTH} characters, this one has {len(host)}"
    labels = host.removesuffix(".").split(".")
    if labels[-1].isdigit():  # no top-level domain is all digits: an IPv4 address is meant
        return None if _is_ipv4_address(host) else f"{host!r} is not an IPv4 address"
    if not host.isascii() or any(label.startswith("xn--") for label in labels):
        return _international_host_problem(parts)
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return (
            f"{host!r} is not a host name (labels of letters, digits, '-' and '_', "
            "1 to 63 characters, separated by single dots)"
        )
    return None


def _is_ipv4_address(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _international_host_problem(parts: SplitResult) -> str | None:
    """IDNA 2008, as the HTTP client encodes it: rare enough to load the client's parser for."""
    import httpx  # noqa: PLC0415

    try:
        httpx.URL(parts.geturl()).host  # noqa: B018 - decoding `xn--` labels is what may fail
    except (httpx.InvalidURL, ValueError):  # ValueError: idna's IDNAError, for `xn--a`
        return f"{parts.hostname!r} is not a host name (IDNA)"
    return None


def check_http_url(value: str, *, base: bool = False, port_placeholder: bool = False) -> str:
    """`value` if it is an http(s) URL, else ValueError in words. `port_placeholder`: `{port}`
    may stand for the port (filled in later)."""
    problem = http_url_problem(value, base=base, port_placeholder=port_placeholder)
    if problem:
        raise ValueError(problem)
    return value.rstrip("/") if base else value


HttpUrl = Annotated[str, AfterValidator(check_http_url)]
"""An http:// or https:// URL a request goes to (a probe's, a page's address)."""

BaseHttpUrl = Annotated[str, AfterValidator(partial(check_http_url, base=True))]
"""The base URL of an API that paths are added to (Unleash's, Prometheus's): no query, no
fragment; a trailing slash is dropped."""
