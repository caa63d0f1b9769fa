"""The `docker` driver: the service is one container, each version an image tag.

    driver:
      type: docker
      image: registry.example.com/team/api   # the repository; a release's ref or version is the tag
      container: api                         # default: the service's name
      port: 8080                             # the container listens here (host network)
      env: {LOG_LEVEL: info}
      stop_timeout: 20s

A deploy follows the runbook: it makes sure the new image is on the docker host (pulling it
unless `pull: never`) before it touches anything, stops the running container and renames it
`<container>-previous-<version>` — kept, not removed, so that what ran before is still there to
inspect or start by hand — then runs the new tag under the container's name with the host's
network. One container is kept, the last one replaced; `retire_previous()` removes it once the
new version is verified (a rollback plan's `retire_previous` step, after monitoring).

A release's `ref`, when set, is the tag (`1.4.0`, a commit id), or a whole image reference when
it is not a valid tag (`registry/api:1.4.0`, `api@sha256:...`); without a ref the version is
the tag. Every container carries the labels `backout.version`, `backout.service` and
`backout.container`, which is how a new backout process knows what runs.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from backout.clock import wait_until
from backout.drivers._docker_cli import DockerCli
from backout.drivers._pids import POLL_INTERVAL, port_is_free, port_is_listening
from backout.drivers._process import Command, check_command, expand_command
from backout.drivers.base import DriverStatus, ReleaseRef, RunState
from backout.durations import Duration, PositiveDuration, format_duration
from backout.errors import DriverError
from backout.file_lock import file_lock
from backout.registry import PluginContext, PluginSettings

VERSION_LABEL = "backout.version"
SERVICE_LABEL = "backout.service"
CONTAINER_LABEL = "backout.container"
START_WINDOW = 0.2  # without a port, by default a container alive this long has started
LOG_TAIL_LINES = 12
RUN_TIMEOUT = 120.0
PORT_RELEASE_WAIT = 5.0  # a stopped container's port is free at once; a stranger's is not

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# `docker run` options backout sets itself: a second value would fight with its own.
_OWN_RUN_OPTIONS = ("--name", "--network", "--net", "--detach", "-d", "--rm", "--restart", "--pull")


class DockerSettings(PluginSettings):
    image: str = Field(
        description="The image's repository without a tag (`demo`, `registry:5000/team/api`); "
        "the release's ref, or else its version, is the tag.",
    )
    container: str | None = Field(
        None, description="The container's name on the docker host; default: the service's name."
    )
    host: str | None = Field(
        None,
        description="The docker daemon, as DOCKER_HOST writes it (`unix:///run/docker.sock`, "
        "`ssh://deploy@host`); default: $DOCKER_HOST, else the local socket.",
    )
    docker: str = Field("docker", description="The docker CLI to run.")
    port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="The port the container listens on (host network): a deploy returns once it "
        "listens, `status` reports its URL, and the container gets $PORT.",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables of the container (given to docker in a file, so "
        "their values are on no command line); a value is one line.",
    )
    command: Command | None = Field(
        None,
        description="The command the container runs instead of the image's own: one string "
        "(split like a shell would) or a list; {port} and {version} are replaced.",
    )
    run_args: list[str] = Field(
        default_factory=list,
        description="More `docker run` options (`--volume`, `--user`, `--memory`); backout sets "
        "--name, --network, --restart, --detach and --pull itself.",
    )
    restart: Literal["no", "on-failure", "unless-stopped", "always"] = Field(
        "unless-stopped", description="The container's restart policy."
    )
    pull: Literal["missing", "never"] = Field(
        "missing",
        description="Whether a tag missing on the docker host is pulled (`missing`) or is an "
        "error (`never`: images are built or loaded there beforehand).",
    )
    stop_timeout: Duration = Field(
        timedelta(seconds=10),
        description="How long `docker stop` waits after SIGTERM before it kills the container.",
    )
    start_timeout: PositiveDuration = Field(
        timedelta(seconds=30),
        description="With a port, how long a deploy waits for the new container to listen.",
    )
    start_grace: Duration = Field(
        timedelta(milliseconds=START_WINDOW * 1000),
        description="Without a port, how long the new container must stay up (and not be "
        "restarted) to count as started.",
    )
    pull_timeout: PositiveDuration = Field(
        timedelta(minutes=10), description="How long a pull of a missing tag may take."
    )

    @field_validator("image")
    @classmethod
    def _image_has_no_tag(cls, image: str) -> str:
        last = image.rsplit("/", 1)[-1]
        if not image or ":" in last or "@" in last:
            raise ValueError(
                f"{image!r}: name the repository only (e.g. `demo`); the release gives the tag"
            )
        return image

    @field_validator("container")
    @classmethod
    def _container_name_is_valid(cls, name: str | None) -> str | None:
        if name is not None and not _CONTAINER_NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a docker container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"
            )
        return name

    @field_validator("env")
    @classmethod
    def _env_values_are_lines(cls, env: dict[str, str]) -> dict[str, str]:
        for key, value in env.items():
            if "\n" in value or "=" in key or not key:
                raise ValueError(f"{key!r}: a name without '=' and a value of one line")
        return env

    @field_validator("command")
    @classmethod
    def _command_is_usable(cls, command: Command | None, info: ValidationInfo) -> Command | None:
        return None if command is None else check_command(command, info.data.get("port"))

    @field_validator("run_args")
    @classmethod
    def _run_args_leave_backouts_own(cls, args: list[str]) -> list[str]:
        for arg in args:
            if arg.split("=", 1)[0] in _OWN_RUN_OPTIONS:
                raise ValueError(f"{arg!r}: backout sets this option itself")
        return args


class DockerDriver:
    """Runs one version of the service as one container; keeps the one it replaced."""

    def __init__(self, settings: DockerSettings, context: PluginContext) -> None:
        self._settings = settings
        self._service = context.service
        self._name = settings.container or context.service
        self._cli = DockerCli(settings.docker, settings.host)
        self._lock_path = context.state_dir / "drivers" / context.service / "docker.lock"

    # -- reading (fast, no side effects) ---------------------------------------------------------

    def current(self) -> str | None:
        info = self._cli.inspect_container(self._name)
        return _version_of(info) if info is not None and _is_up(info) else None

    def status(self) -> DriverStatus:
        info = self._cli.inspect_container(self._name)
        if info is None:
            return DriverStatus(
                RunState.STOPPED, None, f"docker: no container {self._name} on {self._cli.where}"
            )
        state, version = info["State"], _version_of(info)
        image = info["Config"]["Image"]
        if not _is_up(info):
            return DriverStatus(RunState.FAILED, None, self._describe_down(state, image))
        port = self._settings.port
        return DriverStatus(
            RunState.RUNNING,
            version,
            f"docker: container {self._name} ({info['Id'][:12]}) runs {image} "
            f"since {state['StartedAt'][:19]}Z",
            pid=state.get("Pid") or None,
            port=port,
            url=f"http://127.0.0.1:{port}/" if port else None,
            started_at=state["StartedAt"],
        )

    # -- changing --------------------------------------------------------------------------------

    def image_for(self, release: ReleaseRef) -> str:
        """The image reference of a release: repository:tag, or its ref when that is whole."""
        tag = release.ref or release.version
        return f"{self._settings.image}:{tag}" if _TAG.fullmatch(tag) else tag

    def prepare(self, release: ReleaseRef) -> None:
        """Make sure the release's image is on the docker host; what runs is not touched."""
        self._ensure_image(self.image_for(release))

    def deploy(self, release: ReleaseRef) -> None:
        with self._lock():
            info = self._cli.inspect_container(self._name)
            if info is not None and _is_up(info) and _version_of(info) == release.version:
                return
            image = self.image_for(release)
            self._ensure_image(image)  # before anything stops: a missing tag changes nothing
            if info is not None:
                self._set_aside(info)
            self._wait_port_free(release)
            self._run(release, image)
            self._wait_started(release)

    def stop(self) -> None:
        """Stop the container and keep it aside (as a deploy does) until it is retired."""
        with self._lock():
            info = self._cli.inspect_container(self._name)
            if info is not None:
                self._set_aside(info)

    def retire_previous(self) -> list[str]:
        """Remove the container kept by the last deploy or stop; the names removed, sorted.

        Call it once the version now running is verified (after monitoring): until then the
        replaced container is what a person would look at, or start again by hand. Idempotent.
        """
        with self._lock():
            return self._remove_kept(sparing=None)

    def _remove_kept(self, sparing: str | None) -> list[str]:
        """Remove every kept container of this service but the one of id `sparing`."""
        rows = self._cli.containers_labelled(f"{CONTAINER_LABEL}={self._name}")
        kept = [row for row in rows if row["Names"] != self._name and row["ID"] != sparing]
        if kept:
            self._cli.run("rm", "--force", *(row["ID"] for row in kept))
        return sorted(row["Names"] for row in kept)

    def kept_name(self, version: str) -> str:
        """The name a replaced container of `version` is kept under."""
        return f"{self._name}-previous-{re.sub(r'[^A-Za-z0-9_.-]', '_', version)}"

    # -- the steps of a deploy -------------------------------------------------------------------

    def _ensure_image(self, image: str) -> None:
        if self._cli.image_exists(image):
            return
        where = self._cli.where
        if self._settings.pull == "never":
            raise DriverError(
                f"image {image} is not on the docker host {where} (pull: never)",
                hint=f"build, load or import {image} there first",
            )
        timeout = self._settings.pull_timeout.total_seconds()
        done = self._cli.run("pull", "--quiet", image, timeout=timeout, check=False)
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no reason"
            raise DriverError(f"image {image} is not on {where} and its pull failed: {reason}")

    def _set_aside(self, info: dict[str, Any]) -> None:
        """Stop the container and keep it under its kept name, in place of the one kept before
        (one is kept: the last replaced). It is stopped first: a renamed container still serving
        would hold the port while backout believes nothing runs."""
        timeout = self._settings.stop_timeout.total_seconds()
        self._cli.run("stop", "--time", str(int(timeout)), info["Id"], timeout=timeout + 30)
        self._remove_kept(sparing=info["Id"])
        kept = self.kept_name(_version_of(info) or "unknown")
        if info["Name"].lstrip("/") != kept:
            self._cli.run("rename", info["Id"], kept)

    def _wait_port_free(self, release: ReleaseRef) -> None:
        """With a port, wait until nothing listens on it: the new container shares the host's
        network, and a port still held would make a dying listener look like the new one."""
        port = self._settings.port
        if port is None or wait_until(lambda: port_is_free(port), PORT_RELEASE_WAIT):
            return
        raise DriverError(
            f"cannot start {self._service} {release.version}: port {port} is still held by a "
            "process that is not this service's container",
            retryable=True,
            hint=f"find it with: ss -ltnp 'sport = :{port}'",
        )

    def _run(self, release: ReleaseRef, image: str) -> None:
        settings = self._settings
        env = {
            "BACKOUT_SERVICE": self._service,
            "BACKOUT_VERSION": release.version,
            **({"PORT": str(settings.port)} if settings.port else {}),
            **settings.env,
        }
        labels = {
            VERSION_LABEL: release.version,
            SERVICE_LABEL: self._service,
            CONTAINER_LABEL: self._name,
        }
        argv = ["run", "--detach", "--name", self._name, "--network", "host"]
        argv += ["--restart", settings.restart, "--pull", "never"]
        argv += [f"--label={key}={value}" for key, value in labels.items()]
        argv += [*settings.run_args, image]
        if settings.command is not None:
            values = {"version": release.version, "port": str(settings.port or "")}
            argv += expand_command(settings.command, values)
        # The environment goes in a file only this user reads, never on a command line that
        # any process may list (its values may be secrets).
        with tempfile.NamedTemporaryFile("w", prefix="backout-env-", suffix=".list") as env_file:
            env_file.write("".join(f"{key}={value}\n" for key, value in env.items()))
            env_file.flush()
            argv[1:1] = ["--env-file", env_file.name]
            done = self._cli.run(*argv, timeout=RUN_TIMEOUT, check=False)
        if done.returncode != 0:
            raise DriverError(
                f"docker run of {self._service} {release.version} ({image}) failed: "
                f"{done.stderr.strip() or 'no reason given'}"
            )

    def _wait_started(self, release: ReleaseRef) -> None:
        """Return once the new container runs (and listens, with a port); else stop it, keeping
        it under the service's name for its logs, and raise DriverError with its last lines."""
        port = self._settings.port
        wait = (
            self._settings.start_timeout if port else self._settings.start_grace
        ).total_seconds()
        deadline = time.monotonic() + wait
        while True:
            info = self._cli.inspect_container(self._name)
            if info is None or not _is_up(info):
                why = self._describe_down(info["State"] if info else {}, "")
                break
            if info.get("RestartCount"):
                why = f"it exited and was restarted {info['RestartCount']} time(s)"
                break
            if port is not None and port_is_listening(port):
                return
            if time.monotonic() >= deadline:
                if port is None:
                    return  # alive for its whole start window: started
                why = f"it did not listen on port {port} within {format_duration(wait)}"
                break
            time.sleep(POLL_INTERVAL)
        logs = self._cli.logs_tail(self._name, LOG_TAIL_LINES)
        self._cli.run("stop", "--time", "0", self._name, check=False)
        raise DriverError(
            f"{self._service} {release.version} did not start: {why.removeprefix('docker: ')}",
            hint=f"its last output:\n{logs}" if logs else "it printed nothing",
        )

    def _describe_down(self, state: dict[str, Any], image: str) -> str:
        what = f"container {self._name}" + (f" ({image})" if image else "")
        if state.get("Restarting"):
            return f"docker: {what} keeps restarting (last exit code {state.get('ExitCode')})"
        oom = ", out of memory" if state.get("OOMKilled") else ""
        return (
            f"docker: {what} is {state.get('Status', 'gone')} "
            f"(exit code {state.get('ExitCode')}{oom})"
        )

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """Hold the service's lock file, so two backout processes never change it at once."""
        with file_lock(self._lock_path):
            yield


def _is_up(info: dict[str, Any]) -> bool:
    state = info["State"]
    return bool(state.get("Running")) and not state.get("Restarting") and not state.get("Paused")


def _version_of(info: dict[str, Any]) -> str | None:
    """The version a container runs: its label, else (a container not started by backout) the
    tag of its image."""
    labels = info["Config"].get("Labels") or {}
    if VERSION_LABEL in labels:
        return str(labels[VERSION_LABEL])
    image = str(info["Config"]["Image"]).rsplit("/", 1)[-1]
    return image.split(":", 1)[1] if ":" in image else None
