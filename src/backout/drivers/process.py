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
)
from backout.drivers.base import DriverStatus, ReleaseRef
from backout.registry import PluginContext


class ProcessSettings(LaunchSettings):
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
        return check_command(command, info.data.get("port"))


class ProcessDriver:
    """Runs one version of the service as a local process group."""

    def __init__(self, settings: ProcessSettings, context: PluginContext) -> None:
        self._settings = settings
        self._context = context
        self._process = ServiceProcess(settings, context)

    def current(self) -> str | None:
        return self._process.running_version()

    def status(self) -> DriverStatus:
        return self._process.status()

    def prepare(self, release: ReleaseRef) -> None:
        """Check that the release can start here: its folder exists and its program is found."""
        self._process.launch(self._settings.command, release.version, self.directory_for(release))

    def deploy(self, release: ReleaseRef) -> None:
        with self._process.lock():
            if self._process.running_version() == release.version:
                return
            launch = self._process.launch(
                self._settings.command, release.version, self.directory_for(release)
            )
            self._process.replace(launch)

    def stop(self) -> None:
        with self._process.lock():
            self._process.stop()

    def directory_for(self, release: ReleaseRef) -> Path:
        """The release's own folder when its ref names one, else `cwd`, else the config's."""
        if release.ref:
            folder = self._context.resolve(release.ref)
            if folder.is_dir():
                return folder
        return self._context.resolve(self._settings.cwd or ".")
