"""The docker CLI, run as a subprocess: the one place that calls it and translates its failures.

The `docker` driver speaks to the daemon only through here, so every way the CLI can fail —
not installed, the daemon unreachable, a command refused, no answer in time — becomes one
DriverError that says which docker host was asked. JSON comes from `inspect` (a list of
objects) and `--format '{{json .}}'` (one object a line).
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from backout.errors import DriverError

DEFAULT_HOST = "unix:///var/run/docker.sock"
QUICK_TIMEOUT = 15.0  # inspect, ps, rename: the daemon answers these at once when it is up

# What the CLI prints when it reaches no daemon (a socket without dockerd, a host that refuses).
_UNREACHABLE = (
    "cannot connect to the docker daemon",
    "error during connect",
    "permission denied while trying to connect",
)


class DockerCli:
    """Runs `docker` against one daemon: `host` (DOCKER_HOST's syntax), else the environment's."""

    def __init__(self, binary: str, host: str | None) -> None:
        self._binary = binary
        self._host = host

    @property
    def where(self) -> str:
        """The daemon asked, as a person would name it in an error."""
        return self._host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST

    def run(
        self, *args: str, timeout: float = QUICK_TIMEOUT, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run `docker ARGS`; DriverError if it cannot run, or (with `check`) if it failed."""
        env = dict(os.environ)
        if self._host:
            env["DOCKER_HOST"] = self._host
        try:
            done = subprocess.run(
                [self._binary, *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                check=False,
            )
        except FileNotFoundError:
            raise DriverError(
                f"the docker CLI {self._binary!r} is not installed here (not on the PATH)",
                hint="install the docker CLI, or set the driver's `docker:` to its path",
            ) from None
        except subprocess.TimeoutExpired:
            raise DriverError(
                f"docker {args[0]} got no answer from {self.where} within {timeout:g}s",
                retryable=True,
            ) from None
        except OSError as error:  # not a program (a folder, a file without the exec bit ...)
            raise DriverError(
                f"cannot run the docker CLI {self._binary!r}: {error.strerror}",
                hint="set the driver's `docker:` to the docker program's path",
            ) from None
        if done.returncode != 0:
            if _says_unreachable(done.stderr):
                raise DriverError(
                    f"cannot reach the docker daemon at {self.where}: {_first_line(done.stderr)}",
                    retryable=True,
                    hint="is dockerd running there? The driver's `host:` (or $DOCKER_HOST) "
                    "names the daemon",
                )
            if check:
                raise DriverError(f"docker {' '.join(args[:2])} failed: {_first_line(done.stderr)}")
        return done

    def inspect_container(self, name: str) -> dict[str, Any] | None:
        """The container's `docker inspect` object, or None when there is no such container."""
        done = self.run("container", "inspect", name, check=False)
        if done.returncode != 0:
            if "no such container" in done.stderr.lower():
                return None
            raise DriverError(f"docker inspect {name} failed: {_first_line(done.stderr)}")
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found[0] if found else None

    def image_exists(self, reference: str) -> bool:
        done = self.run("image", "inspect", "--format", "{{.Id}}", reference, check=False)
        if done.returncode == 0:
            return True
        if "no such image" in done.stderr.lower():
            return False
        raise DriverError(f"docker image inspect {reference} failed: {_first_line(done.stderr)}")

    def containers_labelled(self, label: str) -> list[dict[str, Any]]:
        """Every container (running or not) carrying `label` (`key=value`), as `docker ps` rows."""
        done = self.run(
            "ps", "--all", "--no-trunc", "--filter", f"label={label}", "--format", "{{json .}}"
        )
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def logs_tail(self, name: str, lines: int) -> str:
        """The container's last output lines (stdout and stderr), or '' if they cannot be read."""
        done = self.run("logs", "--tail", str(lines), name, check=False)
        return (done.stdout + done.stderr).strip()


def _says_unreachable(stderr: str) -> bool:
    lowered = stderr.lower()
    return any(sign in lowered for sign in _UNREACHABLE)


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"
