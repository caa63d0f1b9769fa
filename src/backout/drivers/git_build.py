"""The `git-build` driver: the runbook's `git checkout; npm ci; npm run build; pm2 start`.

    driver:
      type: git-build
      repo: ../badminton-backend        # a path (relative to the config file) or a URL
      install: ["npm ci --production"]
      build: ["npm run build"]
      start: "node dist/server.js"
      port: 3000

Each version is built in its own folder, `releases_dir/<version>` (default
`<state_dir>/releases/<service>`), while the current version keeps running; only then is the
current one stopped and the new one started in its folder, so the service is down for a
restart, not for a build. A kept folder is reused as is: a rollback to a recent release does not
rebuild, and needs no network.

Which commit a release is: its `ref` when given (a commit id, tag or branch; a branch resolves to
where it pointed when last fetched), otherwise the tag `v<version>`, then the tag `<version>`.
The repository is mirrored into `<state_dir>/drivers/<service>/repo.git` and fetched only when a
ref is not found there.

A folder counts as built once it holds a `.backout-release` file with its commit id; that file
is written after the last build command succeeded, so a crash or a failed build never leaves a
folder that looks done. The checkout is built in place (not moved after the build) because
installs write absolute paths (a Python venv, some node modules). Install and build commands run
without a timeout (the step running the deploy has one); their output goes to
`<state_dir>/logs/<service>-build.log`. Placeholders: {python}, {release_dir}, {version}, {port}.
After each prepare and deploy, built folders beyond `keep_releases` (least recently used first)
are removed, never the running one nor the one just prepared.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from backout.atomic import write_text_atomic
from backout.drivers._git import GitMirror, is_remote
from backout.drivers._process import (
    Command,
    LaunchSettings,
    ServiceProcess,
    check_command,
    expand_command,
)
from backout.drivers.base import DriverStatus, ReleaseRef
from backout.errors import DriverError
from backout.registry import PluginContext

logger = logging.getLogger(__name__)

MARKER = ".backout-release"
_COMMIT_ID = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_UNSAFE_IN_FOLDER_NAME = re.compile(r"[^A-Za-z0-9._+-]")
_OUTPUT_TAIL_LINES = 15


class GitBuildSettings(LaunchSettings):
    repo: str = Field(
        description="The git repository: a path (relative to the config file's folder) or a URL."
    )
    install: list[Command] = Field(
        default_factory=list,
        description="Commands run first in a new release's folder (e.g. `npm ci --production`).",
    )
    build: list[Command] = Field(
        default_factory=list,
        description="Commands run after install in a new release's folder (e.g. `npm run build`).",
    )
    start: Command = Field(
        description="The command that runs the service in the foreground, in its release folder."
    )
    keep_releases: int = Field(
        5, ge=1, description="How many built release folders to keep, the running one included."
    )
    releases_dir: str | None = Field(
        None,
        description="Where release folders are built; default <state_dir>/releases/<service>.",
    )

    @field_validator("start")
    @classmethod
    def _start_is_usable(cls, command: Command, info: ValidationInfo) -> Command:
        return check_command(command, info.data.get("port"))

    @field_validator("install", "build")
    @classmethod
    def _steps_are_usable(cls, commands: list[Command], info: ValidationInfo) -> list[Command]:
        return [check_command(command, info.data.get("port")) for command in commands]


class GitBuildDriver:
    """Builds each version from git in its own folder and runs it as a local process."""

    def __init__(self, settings: GitBuildSettings, context: PluginContext) -> None:
        self._settings = settings
        self._service = context.service
        self._process = ServiceProcess(settings, context)
        source = settings.repo if is_remote(settings.repo) else str(context.resolve(settings.repo))
        self._mirror = GitMirror(source, self._process.state_dir / "repo.git")
        self.releases_dir = (
            context.resolve(settings.releases_dir)
            if settings.releases_dir
            else context.state_dir / "releases" / context.service
        )
        self._build_log = context.state_dir / "logs" / f"{context.service}-build.log"

    def current(self) -> str | None:
        return self._process.running_version()

    def status(self) -> DriverStatus:
        return self._process.status()

    def prepare(self, release: ReleaseRef) -> None:
        with self._process.lock():
            self._prepare(release)
            self._prune(keep=release.version)

    def deploy(self, release: ReleaseRef) -> None:
        with self._process.lock():
            if self._process.running_version() == release.version:
                return
            folder = self._prepare(release)
            launch = self._process.launch(self._settings.start, release.version, folder)
            self._process.replace(launch)
            self._prune(keep=release.version)

    def stop(self) -> None:
        with self._process.lock():
            self._process.stop()

    def release_folder(self, version: str) -> Path:
        """Where `version` is (or would be) built."""
        name = _UNSAFE_IN_FOLDER_NAME.sub("_", version)
        return self.releases_dir / (f"_{name}" if name.startswith(".") else name)

    def _prepare(self, release: ReleaseRef) -> Path:
        folder = self.release_folder(release.version)
        ref = (release.ref or "").lower()
        if _COMMIT_ID.match(ref) and _built_commit(folder) == ref:
            return _touched(folder)  # a known commit, already built: no git at all
        commit = self._resolve(release)
        if _built_commit(folder) == commit:
            return _touched(folder)
        self._clear(folder, release.version)
        logger.info("building %s %s at %s in %s", self._service, release.version, commit, folder)
        self._mirror.checkout(commit, folder)
        for phase, commands in (
            ("install", self._settings.install),
            ("build", self._settings.build),
        ):
            for command in commands:
                self._run(phase, command, release.version, folder)
        write_text_atomic(folder / MARKER, commit + "\n")
        return folder

    def _resolve(self, release: ReleaseRef) -> str:
        if release.ref:
            candidates, wanted = [release.ref], f"commit, tag or branch {release.ref!r}"
        else:
            tags = [f"v{release.version}", release.version]
            candidates = [f"refs/tags/{tag}" for tag in tags]
            wanted = f"tag {tags[0]!r} or {tags[1]!r}"
        commit = self._mirror.resolve(candidates)
        if commit is None:
            raise DriverError(
                f"{self._service} {release.version}: the repository {self._mirror.source} has "
                f"no {wanted}",
                hint="tag the release's commit, or record the release with its commit as ref",
            )
        return commit

    def _clear(self, folder: Path, version: str) -> None:
        """Remove an unfinished or outdated build of `version`, unless it is what runs."""
        if not folder.exists():
            return
        running = self._process.running()
        if running is not None and Path(running.directory) == folder:
            raise DriverError(
                f"{self._service} {version} runs from {folder}, which would have to be rebuilt "
                f"(its ref now names another commit than {_built_commit(folder)})",
                hint="give the new build a new version, or stop the service first",
            )
        shutil.rmtree(folder)

    def _run(self, phase: str, command: Command, version: str, folder: Path) -> None:
        argv = expand_command(command, self._process.placeholders(version, folder))
        shown = shlex.join(argv)
        self._build_log.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = subprocess.run(
                argv,
                cwd=folder,
                env=self._process.env(version),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                check=False,
            )
        except OSError as error:
            raise DriverError(
                f"{phase} of {self._service} {version}: `{shown}` cannot run: {error.strerror}"
            ) from None
        output = result.stdout.decode("utf-8", errors="replace")
        with self._build_log.open("a", encoding="utf-8") as log:
            log.write(f"--- backout: {phase} {version}: {shown} (in {folder})\n{output}")
        if result.returncode != 0:
            tail = output.splitlines()[-_OUTPUT_TAIL_LINES:]
            listing = "\n".join(f"  | {line}" for line in tail) or "  (no output)"
            raise DriverError(
                f"{phase} of {self._service} {version} failed: `{shown}` exited with code "
                f"{result.returncode} in {folder}; last lines of its output:\n{listing}",
                hint=f"whole output in {self._build_log}",
            )

    def _prune(self, keep: str) -> None:
        """Remove built folders beyond keep_releases, least recently used first."""
        if not self.releases_dir.is_dir():
            return
        running = self._process.running()
        protected = {self.release_folder(keep)}
        if running is not None:
            protected.add(Path(running.directory))
        built = [p for p in self.releases_dir.iterdir() if _built_commit(p) is not None]
        built.sort(key=lambda p: (p / MARKER).stat().st_mtime_ns, reverse=True)
        for folder in built[self._settings.keep_releases :]:
            if folder not in protected:
                logger.info("removing the old release folder %s", folder)
                shutil.rmtree(folder)
        for staging in self.releases_dir.glob(".tmp-*"):  # left by a crash; we hold the lock
            shutil.rmtree(staging, ignore_errors=True)


def _built_commit(folder: Path) -> str | None:
    try:
        return (folder / MARKER).read_text(encoding="utf-8").strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def _touched(folder: Path) -> Path:
    """Mark `folder` as just used, so pruning keeps the recently deployed releases."""
    now = time.time_ns()
    os.utime(folder / MARKER, ns=(now, now))
    return folder
