"""The `process` driver, backout's default: the service is one local command.

    driver:
      type: process
      command: "{python} -m myapp --port {port}"
      port: 8080

A deploy stops the running version (SIGTERM to its process group, SIGKILL after
`stop_timeout`), waits until the port is free, and starts the new one in its own session, so it
outlives backout. The command runs in the release's folder when the release's `ref` is an
existing folder (that is how `git-build` and artifact folders are deployed), otherwise in `cwd`
(default: the config file's folder). Placeholders in the command: {python} (the interpreter
running backout), {port}, {version}, {release_dir} (the working folder). The service also gets
$BACKOUT_SERVICE, $BACKOUT_VERSION and, with a port, $PORT.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from backout.drivers._process import (
    Command,
    LaunchSettings,
    ServiceProcess,
    check_command,
    release_folder,
)
from backout.drivers.base import DriverStatus, ReleaseRef
from backout.errors import DriverError
from backout.registry import PluginContext


class ProcessSettings(LaunchSettings):
    slots: list[int] = Field(
        default_factory=list,
        description="Two ports to run two versions side by side (`deploy_beside`), e.g. "
        "[8001, 8002], each behind its own server of a router's backend; instead of `port`.",
    )
    command: Command = Field(
        description="The command that runs the service in the foreground: one string in shell "
        "syntax (no shell features: it is split, not run by a shell) or a list of arguments.",
    )
    cwd: str | None = Field(
        None,
        description="Working folder when the release's ref is not a folder; relative to the "
        "config file's folder, which is also the default.",
    )

    @field_validator("command")
    @classmethod
    def _command_is_usable(cls, command: Command, info: ValidationInfo) -> Command:
        slots = info.data.get("slots") or []
        return check_command(command, info.data.get("port") or (slots[0] if slots else None))

    @field_validator("slots")
    @classmethod
    def _two_distinct_ports(cls, slots: list[int], info: ValidationInfo) -> list[int]:
        if slots and (len(slots) != 2 or slots[0] == slots[1]):
            raise ValueError("slots are two different ports, e.g. [8001, 8002]")
        if slots and info.data.get("port") is not None:
            raise ValueError("set either `port` or `slots`, not both")
        if any(not 1 <= p <= 65535 for p in slots):
            raise ValueError("a slot is a port, from 1 to 65535")
        return slots


class ProcessDriver:
    """Runs one version of the service as a local process group; with `slots`, up to two
    versions side by side, one per slot (SlotCapable: see drivers/base.py)."""

    def __init__(self, settings: ProcessSettings, context: PluginContext) -> None:
        self._settings = settings
        self._context = context
        self._process = ServiceProcess(settings, context)
        self._slots = [ServiceProcess(settings, context, slot) for slot in settings.slots]

    def current(self) -> str | None:
        return self._live().running_version()

    def status(self) -> DriverStatus:
        return self._live().status()

    def prepare(self, release: ReleaseRef) -> None:
        """Check that the release can start here: its folder exists and its program is found."""
        self._process.launch(self._settings.command, release.version, self.directory_for(release))

    def deploy(self, release: ReleaseRef) -> None:
        if self._slots:
            self.deploy_beside(release)
            others = {slot.running_version() for slot in self._slots} - {None, release.version}
            for version in others:  # then it is the only one running
                if version is not None:
                    self.retire(version)
            return
        with self._process.lock():
            if self._process.running_version() == release.version:
                return
            launch = self._process.launch(
                self._settings.command, release.version, self.directory_for(release)
            )
            self._process.replace(launch)

    def stop(self) -> None:
        with self._process.lock():
            for process in [self._process, *self._slots]:
                process.stop()

    # -- two slots ---------------------------------------------------------------------------

    def deploy_beside(self, release: ReleaseRef) -> int:
        """Start `release` in the idle slot, leaving the other running; its slot's port.
        Idempotent: a release already running in a slot stays there."""
        if not self._slots:
            raise DriverError(
                f"{self._context.service} has no slots to deploy beside the live version",
                hint="set `slots: [PORT1, PORT2]` in its driver section instead of `port`",
            )
        with self._process.lock():
            port = self.port_of(release.version)
            if port is not None:
                return port
            idle = self._idle_slot()
            launch = idle.launch(
                self._settings.command, release.version, self.directory_for(release)
            )
            idle.replace(launch)
            return self._settings.slots[self._slots.index(idle)]

    def retire(self, version: str) -> None:
        """Stop the slot that runs `version`; a no-op when none does."""
        with self._process.lock():
            for slot in self._slots:
                if slot.running_version() == version:
                    slot.stop()

    def slot_ports(self) -> list[int]:
        return list(self._settings.slots)

    def port_of(self, version: str) -> int | None:
        """The port of the slot running `version` (or `port` when it runs without slots)."""
        if not self._slots:
            return self._settings.port if self._process.running_version() == version else None
        for port, slot in zip(self._settings.slots, self._slots, strict=True):
            if slot.running_version() == version:
                return port
        return None

    def _idle_slot(self) -> ServiceProcess:
        for slot in self._slots:
            if slot.running() is None:
                return slot
        running = ", ".join(
            f"{s.running_version()} on {p}"
            for p, s in zip(self._settings.slots, self._slots, strict=True)
        )
        raise DriverError(
            f"both slots of {self._context.service} are busy ({running})",
            hint="retire one version first (a rollback retires the bad one at its end)",
        )

    def directory_for(self, release: ReleaseRef) -> Path:
        """The release's own folder when its ref names one, else `cwd`, else the config's."""
        return release_folder(self._context, release, self._settings.cwd)

    def _live(self) -> ServiceProcess:
        """The process that is `current`: with slots, the one started last that runs."""
        running = [(record.started_at, slot) for slot in self._slots if (record := slot.running())]
        if not running:
            return self._slots[0] if self._slots else self._process
        return max(running, key=lambda started: started[0])[1]
