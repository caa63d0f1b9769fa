"""The `tcp` check: something accepts connections on host:port.

The connection (name resolution included, which no socket timeout bounds) is attempted in a
worker thread that the caller stops waiting for at `timeout`, so the check returns on time.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import TypeVar

from pydantic import Field

from backout.checks._address import host_and_port
from backout.checks._deadline import call_within
from backout.checks.base import CheckResult, CheckSettings
from backout.durations import format_duration
from backout.registry import PluginContext

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TcpCheckSettings(CheckSettings):
    host: str = Field("127.0.0.1", min_length=1, description="Host name or IP address to reach.")
    port: int = Field(ge=1, le=65535, description="The TCP port that must accept a connection.")
    name: str | None = Field(
        None, min_length=1, description="Name in results; default like 'tcp 127.0.0.1:5432'."
    )


class TcpCheck:
    """Opens one TCP connection and closes it at once; sends nothing."""

    def __init__(self, settings: TcpCheckSettings, context: PluginContext) -> None:
        self._settings = settings
        self._address = host_and_port(settings.host, settings.port)
        self._name = settings.name or f"tcp {self._address}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def timeout(self) -> float:
        return self._settings.timeout.total_seconds()

    def run(self, timeout: float) -> CheckResult:
        started = time.monotonic()
        attempt = call_within(lambda: self._connect(timeout), timeout, name="backout-tcp-check")
        elapsed = time.monotonic() - started
        if attempt is None:
            ok, observed = False, f"timed out after {format_duration(timeout)}"
        else:
            ok, failure = attempt
            observed = f"connected after {elapsed * 1000:.0f}ms" if ok else failure
        result = CheckResult(
            name=self._name,
            ok=ok,
            expected=f"a TCP connection to {self._address}",
            observed=observed,
            duration_s=elapsed,
        )
        logger.debug("%s", result.sentence())
        return result

    def _connect(self, timeout: float) -> tuple[bool, str]:
        """(True, '') when a connection was made, else (False, why not)."""
        try:
            with socket.create_connection((self._settings.host, self._settings.port), timeout):
                return True, ""
        except ConnectionRefusedError:
            return False, "connection refused"
        except TimeoutError:
            return False, f"timed out after {format_duration(timeout)}"
        except socket.gaierror as error:
            return False, f"cannot resolve host {self._settings.host!r} ({error.strerror})"
        except OSError as error:
            return False, f"cannot connect ({error.strerror or error})"
