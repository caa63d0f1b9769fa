"""How a check names the host and port it reaches, in messages."""

from __future__ import annotations


def host_and_port(host: str, port: int) -> str:
    """`host:port`, an IPv6 host in brackets (`[::1]:8080`)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
