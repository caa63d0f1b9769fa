"""IP addresses and CIDR ranges as the reference engine reads them (remoteAddress, IN_CIDR)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(text: str) -> Network | None:
    """An IP or a CIDR range (host bits allowed, as in the reference engine); None if neither."""
    if "%" in text or not text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=1024)
def parse_address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if text is None or "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
