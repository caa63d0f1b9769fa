"""A local mirror of a service's git repository, and checkouts of its commits.

The mirror (`git clone --mirror`) is fetched only when a ref is not found in it, so a rollback
to a release built before needs no network: the git server may be the thing that is down.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path

from backout.errors import DriverError
from backout.git_command import run_git

_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")
_ERROR_LINES = 6


def is_remote(repo: str) -> bool:
    """True for a URL (https://, ssh://, file://) or an scp-like `git@host:path`."""
    return "://" in repo or bool(_SCP_LIKE.match(repo))


class GitMirror:
    """A bare mirror of `source` at `path`; created on first use, not on construction."""

    def __init__(self, source: str, path: Path) -> None:
        self.source = source
        self.path = path

    def resolve(self, candidates: list[str]) -> str | None:
        """The commit id of the first candidate (tag, branch, commit) found; fetch if none is."""
        self._ensure_cloned()
        commit = self._lookup(candidates)
        if commit is None:
            self._fetch()
            commit = self._lookup(candidates)
        return commit

    def checkout(self, commit: str, destination: Path) -> None:
        """Check `commit` out into `destination`, which appears only once complete."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = destination.parent / f".tmp-{destination.name}-{secrets.token_hex(4)}"
        try:
            _git("clone", "--quiet", "--no-checkout", str(self.path), str(staging))
            _git("checkout", "--quiet", "--detach", commit, cwd=staging)
            staging.rename(destination)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _lookup(self, candidates: list[str]) -> str | None:
        for candidate in candidates:
            spec = f"{candidate}^{{commit}}"
            found = _run_git(
                "rev-parse", "--verify", "--quiet", "--end-of-options", spec, cwd=self.path
            )
            if found.returncode == 0:
                return found.stdout.strip()
        return None

    def _ensure_cloned(self) -> None:
        if (self.path / "HEAD").is_file():
            return
        if not is_remote(self.source) and not Path(self.source).exists():
            raise DriverError(
                f"the git repository {self.source} does not exist",
                hint="check `repo` in the service's driver settings",
            )
        shutil.rmtree(self.path, ignore_errors=True)  # a clone interrupted before its rename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = self.path.parent / f".tmp-{self.path.name}-{secrets.token_hex(4)}"
        try:
            _git("clone", "--quiet", "--mirror", self.source, str(staging), remote=self.source)
            staging.rename(self.path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _fetch(self) -> None:
        """Bring the mirror up to date with `source` (which the settings may have changed)."""
        configured = _run_git("config", "--get", "remote.origin.url", cwd=self.path).stdout.strip()
        if configured != self.source:
            _git("remote", "set-url", "origin", self.source, cwd=self.path)
        # No --prune: a tag deleted upstream must still resolve for a rollback to its release.
        _git("fetch", "--quiet", "--force", "origin", cwd=self.path, remote=self.source)


def _git(*args: str, cwd: Path | None = None, remote: str | None = None) -> str:
    """Run git; DriverError with its message on failure, retryable when it talked to a server."""
    result = _run_git(*args, cwd=cwd)
    if result.returncode != 0:
        message = "\n".join(result.stderr.strip().splitlines()[-_ERROR_LINES:])
        raise DriverError(
            f"`git {' '.join(args)}` failed (exit code {result.returncode}): {message}",
            retryable=remote is not None and is_remote(remote),
        )
    return result.stdout


def _run_git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_git(*args, cwd=cwd, error=DriverError)
