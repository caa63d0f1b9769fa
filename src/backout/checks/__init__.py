"""Checks: health, integrity and performance probes. Picked by `type` in config."""

from backout.checks.base import Check, CheckResult
from backout.registry import Registry

# Lazily: a command imports only the checks its config uses (http brings an HTTP client).
CHECKS: Registry[Check] = Registry("check")
CHECKS.register_lazy("http", "backout.checks.http", "HttpCheckSettings", "HttpCheck")
CHECKS.register_lazy("tcp", "backout.checks.tcp", "TcpCheckSettings", "TcpCheck")
CHECKS.register_lazy("command", "backout.checks.command", "CommandCheckSettings", "CommandCheck")

__all__ = ["CHECKS", "Check", "CheckResult"]
