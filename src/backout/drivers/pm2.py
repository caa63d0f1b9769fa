"""The `pm2` driver: the runbook's `pm2 stop` / `pm2 start ecosystem.config.js --env production`.

    driver:
      type: pm2
      ecosystem: ecosystem.config.js   # in the release's folder (its ref), else in `cwd`
      app: backend                     # the app's name in the ecosystem; default: the service's
      env: production                  # pm2 start ... --env production
      port: 3000                       # optional: $PORT, and a deploy waits until it listens

A deploy deletes the app from pm2 (stopping it) and starts it again from the release's
ecosystem file with `--only APP --env ENV`, in the release's folder, with $BACKOUT_SERVICE,
$BACKOUT_VERSION and $PORT in the environment of `pm2 start`: pm2 hands that environment to the
app and keeps it in the process's `pm2_env`, which is how `current()` later reads which version
runs (from `pm2 jlist`). Deleting rather than restarting matters: pm2 keeps an app's folder and
script from its first start, and each release has its own folder. A stop is `pm2 stop APP`: the
app stays in `pm2 ls`, stopped.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator

from backout.drivers._pids import port_is_listening
from backout.drivers._pm2_cli import Pm2App, Pm2Cli, daemon_running, find_pm2, pm2_home
from backout.drivers._process import indented_log_tail, release_folder
from backout.drivers.base import DriverStatus, ReleaseRef, RunState
from backout.durations import PositiveDuration, format_duration
from backout.errors import ConfigError, DriverError
from backout.file_lock import file_lock
from backout.registry import PluginContext, PluginSettings

logger = logging.getLogger(__name__)

# pm2's process states, as `pm2 jlist` spells them.
_UP = frozenset({"online", "launching"})
_CRASHED = frozenset({"errored", "waiting restart"})  # died; pm2 gave up, or retries later
_ENV_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_START_POLL = 0.1  # between two looks at a starting app (each `pm2 jlist` costs ~0.4s itself)


class Pm2Settings(PluginSettings):
    pm2: str | None = Field(
        None,
        description="The pm2 program: a path (relative to the config file's folder) or a name "
        "on PATH. Default: `pm2` on PATH, else node_modules/.bin/pm2 in the config file's "
        "folder or in `cwd`.",
    )
    ecosystem: str = Field(
        "ecosystem.config.js",
        description="The ecosystem file, relative to the release's folder when the release's "
        "ref is a folder, else to `cwd`.",
    )
    app: str | None = Field(
        None,
        min_length=1,
        description="The app's `name` in the ecosystem file. Default: the service's name.",
    )
    env: str = Field(
        "production",
        description="The ecosystem environment to start with (`--env`): its env_<name> block.",
    )
    pm2_home: str | None = Field(
        None,
        description="PM2_HOME, the folder of the pm2 daemon that runs the app (relative to the "
        "config file's folder). Default: $PM2_HOME, else ~/.pm2.",
    )
    cwd: str | None = Field(
        None,
        description="The folder pm2 starts the app in when the release's ref is not a folder; "
        "relative to the config file's folder, which is also the default.",
    )
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="The port the app listens on: passed as $PORT to `pm2 start` (the "
        "ecosystem file may read process.env.PORT), and a deploy waits until it listens.",
    )
    start_timeout: PositiveDuration = Field(
        timedelta(seconds=30),
        description="How long a deploy waits for the app to be online (and, with `port`, "
        "listening) before it stops it and fails.",
    )
    command_timeout: PositiveDuration = Field(
        timedelta(seconds=60),
        description="How long one pm2 command (start, stop, delete, jlist) may take.",
    )

    @field_validator("app")
    @classmethod
    def _app_is_one_app(cls, app: str | None) -> str | None:
        if app is not None:
            _check_app_name(app)
        return app

    @field_validator("env")
    @classmethod
    def _env_is_a_name(cls, env: str) -> str:
        if not _ENV_NAME.match(env):
            raise ValueError(f"{env!r} is not an environment name such as production")
        return env


class Pm2Driver:
    """Runs the service as one app of a pm2 daemon; everything known is asked of pm2."""

    def __init__(self, settings: Pm2Settings, context: PluginContext) -> None:
        self._settings = settings
        self._context = context
        self._app = settings.app or context.service
        try:
            _check_app_name(self._app)
        except ValueError as error:
            where = f"services.{context.service}.driver.app"
            raise ConfigError(str(context.config_file), [f"{where}: {error}"]) from None
        self._home = pm2_home(settings.pm2_home, context)
        self._lock_path = context.state_dir / "drivers" / context.service / "lock"
        self._cli: Pm2Cli | None = None

    def current(self) -> str | None:
        status = self.status()
        return status.version if status.state is RunState.RUNNING else None

    def status(self) -> DriverStatus:
        if not daemon_running(self._home):  # then nothing runs: no pm2 call needed
            return DriverStatus(RunState.STOPPED, None, f"no pm2 daemon runs in {self._home}")
        return self._describe(self._pm2().apps(self._app))

    def prepare(self, release: ReleaseRef) -> None:
        """Check that the release can start: pm2 is found and the ecosystem file exists."""
        self._pm2()
        self._ecosystem_for(release)

    def deploy(self, release: ReleaseRef) -> None:
        with self._locked():
            pm2 = self._pm2()
            apps = pm2.apps(self._app)
            if _running_version(apps) == release.version:
                return
            ecosystem = self._ecosystem_for(release)
            if apps:
                pm2.run("delete", self._app)
            pm2.ensure_daemon()
            pm2.run(
                "start",
                str(ecosystem),
                "--only",
                self._app,
                "--env",
                self._settings.env,
                cwd=self.directory_for(release),
                env=self._app_env(release),
            )
            self._await_start(release, ecosystem)
            logger.info(
                "pm2 started %s %s (app %s)", self._context.service, release.version, self._app
            )

    def stop(self) -> None:
        with self._locked():
            if not daemon_running(self._home):  # then nothing runs: no pm2 call needed
                return
            pm2 = self._pm2()
            if any(app.status != "stopped" for app in pm2.apps(self._app)):
                pm2.run("stop", self._app)

    def directory_for(self, release: ReleaseRef) -> Path:
        """The release's own folder when its ref names one, else `cwd`, else the config's."""
        return release_folder(self._context, release, self._settings.cwd)

    # -- internals ---------------------------------------------------------------------------

    def _pm2(self) -> Pm2Cli:
        """The pm2 program, found on first use (a config naming a missing one still loads)."""
        if self._cli is None:
            extra = [self._context.resolve(self._settings.cwd)] if self._settings.cwd else []
            program = find_pm2(self._settings.pm2, self._context, extra)
            timeout = self._settings.command_timeout.total_seconds()
            self._cli = Pm2Cli(program, self._home, timeout)
        return self._cli

    def _ecosystem_for(self, release: ReleaseRef) -> Path:
        folder = self.directory_for(release)
        ecosystem = folder / self._settings.ecosystem
        if not ecosystem.is_file():
            raise DriverError(
                f"cannot start {self._context.service} {release.version} with pm2: no ecosystem "
                f"file {ecosystem}",
                hint=f"set `ecosystem:` (services.{self._context.service}.driver.ecosystem) to "
                f"its path relative to {folder}",
            )
        return ecosystem

    def _app_env(self, release: ReleaseRef) -> dict[str, str]:
        env = {"BACKOUT_SERVICE": self._context.service, "BACKOUT_VERSION": release.version}
        if self._settings.port is not None:
            env["PORT"] = str(self._settings.port)
        return env

    def _await_start(self, release: ReleaseRef, ecosystem: Path) -> None:
        """Return once the app is online (and listening on `port`); else stop it and fail."""
        pm2 = self._pm2()
        timeout = self._settings.start_timeout.total_seconds()
        deadline = time.monotonic() + timeout
        port = self._settings.port
        while True:
            apps = pm2.apps(self._app)
            if not apps:
                raise DriverError(
                    f"`pm2 start {ecosystem.name} --only {self._app}` started no app named "
                    f"{self._app!r}",
                    hint=f"set `app:` to the name of an app of {ecosystem}",
                )
            if any(app.status in _CRASHED or app.restarts > 0 for app in apps):
                # The log is read before the stop: pm2 interrupts a restart under way, and its
                # KeyboardInterrupt would otherwise hide why the release died.
                why = _log_lines(apps)
                pm2.run("stop", self._app)  # not left crash-looping
                raise DriverError(
                    f"{self._context.service} {release.version} died right after pm2 started "
                    f"it; {why}"
                )
            ready = all(app.status == "online" for app in apps)
            if ready and (port is None or port_is_listening(port)):
                return
            if time.monotonic() >= deadline:
                why = _log_lines(apps)
                pm2.run("stop", self._app)
                waited = f"listening on port {port}" if ready else "online"
                raise DriverError(
                    f"{self._context.service} {release.version} was not {waited} "
                    f"{format_duration(self._settings.start_timeout)} after pm2 started it; "
                    f"{why}"
                )
            time.sleep(_START_POLL)

    def _describe(self, apps: list[Pm2App]) -> DriverStatus:
        where = f"pm2 app {self._app!r} ({self._home})"
        if not apps:
            return DriverStatus(RunState.STOPPED, None, f"{where} is not in pm2's list")
        first = apps[0]
        if any(app.status in _CRASHED for app in apps):
            detail = (
                f"{where} running {first.version or 'an unknown version'} has crashed: "
                f"{first.status} after {first.restarts} restart(s); {_log_lines(apps)}"
            )
            return DriverStatus(RunState.FAILED, first.version, detail, port=self._settings.port)
        if not any(app.status in _UP for app in apps):
            return DriverStatus(RunState.STOPPED, None, f"{where} is {first.status}")
        return self._describe_running(where, apps)

    def _describe_running(self, where: str, apps: list[Pm2App]) -> DriverStatus:
        first = apps[0]
        version = _running_version(apps)
        instances = f" ({len(apps)} instances)" if len(apps) > 1 else ""
        detail = (
            f"{where} runs {version or 'a version not started by backout'}{instances} as pid "
            f"{first.pid} since {first.started_at} ({first.restarts} restart(s))"
        )
        port = self._settings.port
        if port is not None:
            listening = port_is_listening(port)
            detail += f"; {'listening' if listening else 'not listening yet'} on port {port}"
        return DriverStatus(
            RunState.RUNNING,
            version,
            detail,
            pid=first.pid,
            port=port,
            url=f"http://127.0.0.1:{port}/" if port is not None else None,
            started_at=first.started_at,
        )

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the service's lock file, so two backout processes never change it at once."""
        with file_lock(self._lock_path):
            yield


def _check_app_name(name: str) -> None:
    # pm2 reads `all` as every app and a number as a process id: `pm2 delete all` must never run.
    if name == "all" or name.isdigit():
        raise ValueError(
            f"pm2 reads {name!r} as no app's name (`all`: every app; a number: a process id); "
            "set `app:` to the app's name in the ecosystem file"
        )


def _running_version(apps: list[Pm2App]) -> str | None:
    """The version every process of the app runs, when all are up; else None."""
    versions = {app.version for app in apps if app.status in _UP}
    if len(versions) != 1 or any(app.status not in _UP for app in apps):
        return None
    return versions.pop()


def _log_lines(apps: list[Pm2App]) -> str:
    log = apps[0].error_log
    if log is None:
        return "pm2 keeps no error log for it"
    return f"last lines of {log}:\n{indented_log_tail(log, empty='  (nothing)')}"
