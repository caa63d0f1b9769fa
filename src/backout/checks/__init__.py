"""Checks: health, integrity and performance probes. Picked by `type` in config."""

from backout.checks.base import Check, CheckResult
from backout.checks.command import CommandCheck, CommandCheckSettings
from backout.checks.http import HttpCheck, HttpCheckSettings
from backout.checks.tcp import TcpCheck, TcpCheckSettings
from backout.registry import Registry

CHECKS: Registry[Check] = Registry("check")
CHECKS.register("http", HttpCheckSettings, HttpCheck)
CHECKS.register("tcp", TcpCheckSettings, TcpCheck)
CHECKS.register("command", CommandCheckSettings, CommandCheck)

__all__ = ["CHECKS", "Check", "CheckResult"]
