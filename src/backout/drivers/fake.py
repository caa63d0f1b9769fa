"""The `fake` driver: remembers "what runs" in a JSON file and runs nothing.

For dry runs of a plan without a platform, and for tests of the steps and plans above the
drivers; the real drivers have their own tests against real processes.

    driver:
      type: fake
      deploy_delay: 2s          # a deploy takes this long
      hold_until: release-api   # and waits until this file exists (at most hold_timeout)
      fail_versions: ["1.4.0"]  # deploying these raises DriverError; what runs stays running
      fail_retryable: true

State: <state_dir>/drivers/<service>/fake.json.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from backout.atomic import write_text_atomic
from backout.drivers.base import DriverStatus, ReleaseRef, RunState
from backout.durations import Duration, PositiveDuration, format_duration
from backout.errors import DriverError
from backout.registry import PluginContext, PluginSettings

_HOLD_POLL_S = 0.02


class FakeDriverSettings(PluginSettings):
    deploy_delay: Duration = Field(
        timedelta(0), description="How long each deploy takes (a real wait), to rehearse timing."
    )
    hold_until: str | None = Field(
        None,
        description="A file (relative to the config file's folder): each deploy also waits "
        "until it exists, so a rehearsal or a test decides when a deploy ends.",
    )
    hold_timeout: PositiveDuration = Field(
        timedelta(seconds=60),
        description="How long a deploy waits for `hold_until`'s file before it fails.",
    )
    fail_versions: list[str] = Field(
        default_factory=list,
        description="Versions whose deploy raises DriverError, leaving what runs untouched.",
    )
    fail_retryable: bool = Field(
        False, description="Whether the DriverError of a failing version says a retry can help."
    )


class FakeDriver:
    """Pretends to run one version at a time; counts deploys so tests can see no-ops."""

    def __init__(self, settings: FakeDriverSettings, context: PluginContext) -> None:
        self._settings = settings
        self._service = context.service
        self._path = context.state_dir / "drivers" / context.service / "fake.json"
        self._hold = context.resolve(settings.hold_until) if settings.hold_until else None

    def current(self) -> str | None:
        version: str | None = self._state().get("version")
        return version

    def status(self) -> DriverStatus:
        state = self._state()
        version = state.get("version")
        if version is None:
            return DriverStatus(RunState.STOPPED, None, "fake: nothing runs")
        detail = f"fake: {version} deployed at {state['deployed_at']} (deploy #{state['deploys']})"
        return DriverStatus(RunState.RUNNING, version, detail)

    def prepare(self, release: ReleaseRef) -> None:
        state = self._state()
        prepared: list[str] = state.setdefault("prepared", [])
        if release.version not in prepared:
            prepared.append(release.version)
            self._save(state)

    def deploy(self, release: ReleaseRef) -> None:
        if self.current() == release.version:
            return
        if release.version in self._settings.fail_versions:
            raise DriverError(
                f"fake driver: deploying {self._service} {release.version} fails (fail_versions)",
                retryable=self._settings.fail_retryable,
            )
        time.sleep(self._settings.deploy_delay.total_seconds())
        self._wait_for_hold(release)
        self.prepare(release)
        state = self._state()
        state.update(
            version=release.version,
            ref=release.ref,
            deployed_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            deploys=state.get("deploys", 0) + 1,
        )
        self._save(state)

    def _wait_for_hold(self, release: ReleaseRef) -> None:
        if self._hold is None:
            return
        deadline = time.monotonic() + self._settings.hold_timeout.total_seconds()
        while not self._hold.exists():
            if time.monotonic() >= deadline:
                waited = format_duration(self._settings.hold_timeout)
                raise DriverError(
                    f"fake driver: deploying {self._service} {release.version} waited {waited} "
                    f"for {self._hold} (hold_until)"
                )
            time.sleep(_HOLD_POLL_S)

    def stop(self) -> None:
        state = self._state()
        if state.get("version") is not None:
            state["version"] = None
            self._save(state)

    def prepared(self) -> list[str]:
        """The versions prepare() or deploy() has seen, for tests."""
        versions: list[str] = self._state().get("prepared", [])
        return versions

    def _state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise DriverError(
                f"the fake driver's state {self._path} cannot be read: {error}",
                hint="delete the file to start afresh",
            ) from None
        return data

    def _save(self, state: dict[str, Any]) -> None:
        write_text_atomic(self._path, json.dumps(state, indent=2, sort_keys=True) + "\n")
