"""The pin file: rolled-back releases, committed to the team's deploy repository.

backout already refuses to deploy a rolled-back release itself. A pipeline that deploys on its
own reads the pin file instead:

    jq -e '.pinned.production.backend["1.1.0"]' backout-pins.json   # exit 0: pinned, do not ship

Each change is one commit of that file alone (`git commit --only`), so nothing else staged in the
working copy is swept into it. Writing and committing are idempotent: a step that died between
the two commits the file on its next attempt, and pinning a pinned release changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backout.atomic import write_text_atomic
from backout.config.pins import PinSettings
from backout.errors import StepFailedError
from backout.file_lock import file_lock
from backout.git_command import run_git

_ERROR_LINES = 6
Pins = dict[str, dict[str, dict[str, dict[str, Any]]]]  # environment → service → version → why


class PinError(StepFailedError):
    """The pin file could not be written, committed or pushed."""


@dataclass(frozen=True)
class Pin:
    """Why one release of a service must not be deployed again in an environment."""

    environment: str
    service: str
    version: str
    reason: str
    at: str  # ISO 8601, UTC
    incident: int | None = None


class PinFile:
    """The pin file of `settings`, its paths resolved against `base_dir`."""

    def __init__(self, settings: PinSettings, base_dir: Path, lock_dir: Path) -> None:
        repository = Path(settings.repository).expanduser()
        self.repository = repository if repository.is_absolute() else base_dir / repository
        self.path = self.repository / settings.file
        self._settings = settings
        self._lock_path = lock_dir / "pins.lock"

    def pinned(self) -> Pins:
        """Every pin in the file; an absent file pins nothing."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise PinError(
                f"the pin file {self.path} cannot be read: {error}",
                hint="fix or remove the file; backout writes it again on the next pin",
            ) from None
        pins: Pins = data.get("pinned", {}) if isinstance(data, dict) else {}
        return pins

    def problem(self) -> str | None:
        """Why pins cannot be committed here, or None: what `backout check` reports."""
        try:
            self._check_working_copy()
        except PinError as error:
            return str(error)
        return None

    def is_pinned(self, environment: str, service: str, version: str) -> bool:
        return version in self.pinned().get(environment, {}).get(service, {})

    def pin(self, pin: Pin) -> str:
        """Add `pin` and commit it; what was done, in a sentence."""
        entry = {"reason": pin.reason, "at": pin.at, "incident": pin.incident}
        with self._locked():
            pins = self.pinned()
            versions = pins.setdefault(pin.environment, {}).setdefault(pin.service, {})
            versions.setdefault(pin.version, entry)  # the first rollback's reason is kept
            commit = self._save_and_commit(
                pins, f"backout: pin {pin.service} {pin.version} ({pin.environment}): {pin.reason}"
            )
        return f"pinned {pin.service} {pin.version} in {self.path}{commit}"

    def unpin(self, environment: str, service: str, version: str, *, why: str) -> str:
        """Remove the pin of `version`, if any, and commit that; what was done, in a sentence."""
        with self._locked():
            pins = self.pinned()
            versions = pins.get(environment, {}).get(service, {})
            if versions.pop(version, None) is None and not self._uncommitted():
                return f"{service} {version} was not pinned in {self.path}"
            commit = self._save_and_commit(
                _without_empty(pins),
                f"backout: unpin {service} {version} ({environment}): {why}",
            )
        return f"unpinned {service} {version} in {self.path}{commit}"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time: two runs pinning two services must not lose one of the pins."""
        with file_lock(self._lock_path):
            yield

    def _save_and_commit(self, pins: Pins, message: str) -> str:
        """Write `pins`, commit the file if it changed, push when configured; ` (commit X)`."""
        self._check_working_copy()
        text = json.dumps({"pinned": pins}, indent=2, sort_keys=True) + "\n"
        write_text_atomic(self.path, text)
        if self._uncommitted():
            name, email = self._settings.author[:-1].split(" <", 1)
            relative = str(self.path.relative_to(self.repository))
            self._git("add", "--", relative)
            self._git(
                "-c", f"user.name={name}", "-c", f"user.email={email}",
                "commit", "--quiet", "--only", "-m", message, "--", relative,
            )  # fmt: skip
        if self._settings.push:
            self._git("push", "--quiet", retryable=True)
        sha = self._git("rev-parse", "--short", "HEAD").strip()
        return f" (commit {sha})"

    def _uncommitted(self) -> bool:
        """True when the file differs from what is committed (or was never committed)."""
        if not self.path.exists():
            return False
        relative = str(self.path.relative_to(self.repository))
        return bool(self._git("status", "--porcelain", "--", relative).strip())

    def _check_working_copy(self) -> None:
        if not self.repository.is_dir():
            raise PinError(
                f"pins.repository {self.repository} is not a folder",
                hint="point pins.repository at a git working copy of the deploy repository",
            )
        top = run_git("rev-parse", "--show-toplevel", cwd=self.repository, error=PinError)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != self.repository.resolve():
            raise PinError(
                f"pins.repository {self.repository} is not the top of a git working copy",
                hint="clone the deploy repository there (git clone URL PATH)",
            )

    def _git(self, *args: str, retryable: bool = False) -> str:
        result = run_git(*args, cwd=self.repository, error=PinError)
        if result.returncode != 0:
            message = "\n".join(result.stderr.strip().splitlines()[-_ERROR_LINES:])
            raise PinError(
                f"`git {args[0]}` in {self.repository} failed: {message}",
                retryable=retryable or "index.lock" in message,
            )
        return result.stdout


def _without_empty(pins: Pins) -> Pins:
    """`pins` without services or environments left with no pinned version."""
    cleaned: Pins = {}
    for environment, services in pins.items():
        kept = {service: versions for service, versions in services.items() if versions}
        if kept:
            cleaned[environment] = kept
    return cleaned
