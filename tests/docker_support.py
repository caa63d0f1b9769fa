"""A docker daemon of the tests' own, and the demo images it runs.

The machine is shared: a default dockerd would create the docker0 bridge (172.17.0.0/16) and
rewrite iptables. This one starts only with the bridge, iptables, forwarding and masquerading
off, with its data, exec root, socket and pid file in a temporary folder (its own containerd
too, which dockerd starts under the exec root); containers use the host's network. One daemon
per test session (per xdist worker); each test's containers are removed after it.

Nothing can be pulled, so the images are made here: `docker import` of a tar of a root
filesystem holding Debian's static busybox and a start script that serves, on $PORT at
127.0.0.1, "<version baked in the image> <an id made at start>": the version shows which image
runs, the id which container instance.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCKERD_FLAGS = ["--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false"]
START_TIMEOUT = 60.0
BUSYBOX = Path("/bin/busybox")

# PID 1 of a container ignores SIGTERM unless it handles it: the shell traps it, so `docker
# stop` ends the container at once instead of after its timeout.
SERVE = """\
#!/bin/sh
echo "$(cat /VERSION) $(cat /proc/sys/kernel/random/uuid)" > /www/index.html
trap 'exit 0' TERM
httpd -f -p "127.0.0.1:$PORT" -h /www &
wait
"""
CRASH = """\
#!/bin/sh
echo "config error: DATABASE_URL is not set"
exit 3
"""


@dataclass(frozen=True)
class Dockerd:
    """A running daemon of the tests: its DOCKER_HOST and a way to run the CLI against it."""

    host: str
    folder: Path

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": self.host}
        return subprocess.run(
            ["docker", *args], env=env, capture_output=True, text=True, timeout=60, check=check
        )

    def names(self) -> list[str]:
        """The names of every container of this daemon, running or not, sorted."""
        listed = self.docker("ps", "--all", "--format", "{{.Names}}").stdout
        return sorted(listed.split())

    def remove_all_containers(self) -> None:
        ids = self.docker("ps", "--all", "--quiet").stdout.split()
        if ids:
            self.docker("rm", "--force", *ids)


def build_image(dockerd: Dockerd, tag: str, version: str, script: str, work: Path) -> None:
    """Import a busybox root filesystem running `script` as image `tag`."""
    root = work / tag.replace(":", "-")
    for folder in ("bin", "www", "proc", "sys", "dev", "etc"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in ("sh", "cat", "httpd"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "VERSION").write_text(version + "\n")
    (root / "start.sh").write_text(script)
    archive = work / f"{root.name}.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=".")
    dockerd.docker("import", "--change", 'CMD ["/bin/sh", "/start.sh"]', str(archive), tag)


def _reason_dockerd_cannot_run() -> str | None:
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        return "dockerd/docker not installed (scripts/ensure-system-deps.sh installs docker.io)"
    if os.geteuid() != 0:
        return "dockerd needs root (namespaces, mounts) and these tests do not run as root"
    if not BUSYBOX.exists():
        return "no static busybox for the test images (apt busybox-static)"
    return None


def _die_with_the_tests() -> None:
    """In the child before exec: SIGTERM it if the test process dies (killed, no teardown), so
    no dockerd of the tests outlives them on a shared machine."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _start(folder: Path) -> tuple[subprocess.Popen[bytes], Dockerd]:
    socket = folder / "docker.sock"
    log = (folder / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            "dockerd",
            *DOCKERD_FLAGS,
            f"--data-root={folder / 'data'}",
            f"--exec-root={folder / 'exec'}",
            f"--pidfile={folder / 'dockerd.pid'}",
            f"--host=unix://{socket}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_the_tests,
    )
    dockerd = Dockerd(f"unix://{socket}", folder)
    deadline = time.monotonic() + START_TIMEOUT
    while dockerd.docker("version", check=False).returncode != 0:
        if process.poll() is not None or time.monotonic() >= deadline:
            _stop(process, folder)
            tail = (folder / "dockerd.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"the tests' dockerd did not start within {START_TIMEOUT:g}s:\n{tail}")
        time.sleep(0.1)
    return process, dockerd


def _stop(process: subprocess.Popen[bytes], folder: Path) -> None:
    """Stop dockerd (it stops its containers and its containerd), unmount what it left, remove
    its folder."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in reversed(mounts):
        if mount.startswith(str(folder)):
            subprocess.run(["umount", "--lazy", mount], check=False)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd_session() -> Iterator[Dockerd]:
    """The session's own dockerd, with images demo:1.0.0, demo:1.1.0 and demo:crash."""
    reason = _reason_dockerd_cannot_run()
    if reason is not None:
        pytest.skip(reason)
    # Short and under /tmp: unix socket paths are limited to 108 bytes.
    folder = Path(tempfile.mkdtemp(prefix="bo-dockerd-", dir="/tmp"))
    process, dockerd = _start(folder)
    try:
        work = folder / "images"
        build_image(dockerd, "demo:1.0.0", "1.0.0", SERVE, work)
        build_image(dockerd, "demo:1.1.0", "1.1.0", SERVE, work)
        build_image(dockerd, "demo:crash", "crash", CRASH, work)
        yield dockerd
    finally:
        _stop(process, folder)


@pytest.fixture
def dockerd(dockerd_session: Dockerd) -> Iterator[Dockerd]:
    """The session's dockerd; every container a test made is removed after it."""
    yield dockerd_session
    dockerd_session.remove_all_containers()
