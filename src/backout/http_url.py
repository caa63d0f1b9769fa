"""The one check of every http(s) URL backout.yaml gives: refused at load, in words, so no
command later fails on it with an HTTP client's traceback.

`urllib.parse`, not httpx: validating a config must not load an HTTP client (CLI start-up), except
for a host name that is not ASCII. What urllib lets through but an HTTP client refuses when it
sends (a control character, a bad IPv4 address, a stray `]`, a port out of range) is refused too.
"""

from __future__ import annotations

import ipaddress
import re
from functools import partial
from typing import Annotated
from urllib.parse import SplitResult, urlsplit

from pydantic import AfterValidator

from backout.redact import redact

PORT_PLACEHOLDER = "{port}"
"""Stands for the port the version under check listens on (health checks only)."""

MAX_URL_LENGTH = 2048
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")


def http_url_problem(value: str, *, base: bool = False) -> str | None:
    """What is wrong with `value` as an http(s) URL, in words that never quote a password;
    None when nothing is. `base`: a base URL, to which paths are added (no query, no fragment)."""
    if len(value) > MAX_URL_LENGTH:
        return f"a URL is at most {MAX_URL_LENGTH} characters, this one has {len(value)}"
    problem = _parts_problem(value, base=base)
    return f"{problem}: {redact(value)!r}" if problem else None


def _parts_problem(value: str, *, base: bool) -> str | None:
    if _CONTROL_OR_SPACE.search(value):
        return "a URL cannot hold a space or a control character"
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a port that is not a number in 0-65535
    except ValueError as error:
        return f"not a valid URL ({error})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an http:// or https:// URL with a host"
    if port == 0:
        return "port 0 is not a port a server answers on"
    if base and (parts.query or parts.fragment):
        return "expected a base URL, without '?' or '#'"
    return _host_problem(parts)


def _host_problem(parts: SplitResult) -> str | None:
    """What an HTTP client would refuse in the host (the rules httpx applies when it sends)."""
    host = parts.hostname or ""
    host_and_port = parts.netloc.rpartition("@")[2]
    if host_and_port.startswith("["):  # urlsplit checked the address, not what follows it
        after_bracket = host_and_port.partition("]")[2]
        if after_bracket and not after_bracket.startswith(":"):
            return f"{host_and_port!r} is not an IPv6 address and port"
    elif _IPV4_STYLE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{host!r} is not an IPv4 address"
    elif not host.isascii():
        # IDNA 2008, as the client encodes it: rare enough to load the client's own parser for.
        import httpx  # noqa: PLC0415

        try:
            httpx.URL(parts.geturl())
        except httpx.InvalidURL:
            return f"{host!r} is not a host name (IDNA)"
    return None


def check_http_url(value: str, *, base: bool = False, port_placeholder: bool = False) -> str:
    """`value` if it is an http(s) URL, else ValueError in words. `port_placeholder`: `{port}`
    may stand for a port (filled in later)."""
    problem = http_url_problem(
        value.replace(PORT_PLACEHOLDER, "1") if port_placeholder else value, base=base
    )
    if problem:
        raise ValueError(problem)
    return value.rstrip("/") if base else value


HttpUrl = Annotated[str, AfterValidator(check_http_url)]
"""An http:// or https:// URL a request goes to (a probe's, a page's address)."""

BaseHttpUrl = Annotated[str, AfterValidator(partial(check_http_url, base=True))]
"""The base URL of an API that paths are added to (Unleash's, Prometheus's): no query, no
fragment; a trailing slash is dropped."""
