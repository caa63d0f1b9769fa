"""pgBackRest's command line as backout runs it.

backout writes pgBackRest's configuration itself, `<state>/pgbackrest/<stanza>/pgbackrest.conf`
(never /etc), with its log, lock and spool folders beside it, and passes `--config` to every
command. Each command runs as the cluster's OS user (who must reach those folders and the
repository); a failure becomes a BackupError with pgBackRest's own message, retryable where
pgBackRest's error code says a retry can help.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from backout.atomic import write_text_atomic
from backout.db import cluster
from backout.db.backup.base import BackupError
from backout.db.connection import Database

ERROR_LINE = re.compile(r"ERROR: \[(\d+)\]: (.*)")
_RETRYABLE_CODES = {50, 56, 82}  # lock held, server unreachable, WAL archive timeout
QUICK_S = 300.0


class PgBackRestCommand:
    """One stanza's pgbackrest: its configuration file, its folders, its commands."""

    def __init__(
        self,
        *,
        home: Path,
        repository: Path,
        stanza: str,
        data_dir: Path,
        user: str | None,
        database: Database,
        global_options: dict[str, str],
    ) -> None:
        self.home = home
        self._repository = repository
        self._stanza = stanza
        self._data_dir = data_dir
        self._user = user
        self._database = database
        self._global_options = global_options
        self._executable = shutil.which("pgbackrest") or "pgbackrest"
        self._prepared = False

    @property
    def config_file(self) -> Path:
        return self.home / "pgbackrest.conf"

    def archive_command(self) -> str:
        """PostgreSQL's archive_command pushing WAL through this configuration."""
        words = [self._executable, f"--config={self.config_file}", f"--stanza={self._stanza}"]
        return " ".join(shlex.quote(word) for word in words) + " archive-push %p"

    def run(
        self,
        args: list[str],
        *,
        server: list[str] | None = None,
        timeout: float = QUICK_S,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run one pgbackrest command as the cluster's user; BackupError when it fails."""
        self._prepare()
        argv = [self._executable, f"--config={self.config_file}", f"--stanza={self._stanza}"]
        argv += server or []
        password = conninfo_to_dict(self._database.conninfo).get("password")
        env = {"PGPASSWORD": str(password)} if password else None
        done = cluster.run_tool([*argv, *args], user=self._user, env=env, timeout=timeout)
        if check and done.returncode != 0:
            raise self.failure(args[0], done)
        return done

    def failure(self, command: str, done: subprocess.CompletedProcess[str]) -> BackupError:
        """A failed command's BackupError: pgBackRest's own message and error code."""
        errors = ERROR_LINE.findall(done.stdout + done.stderr)
        code = int(errors[-1][0]) if errors else None
        message = errors[-1][1] if errors else (done.stderr or done.stdout).strip()
        hint = f"pgBackRest's logs are in {self.home / 'log'}"
        if "Permission denied" in message or "unable to open" in message:
            hint += f"; it runs as {self._user or 'backout'}, who must reach every folder it uses"
        return BackupError(
            f"pgbackrest {command} failed (exit {done.returncode}): {message}",
            retryable=code in _RETRYABLE_CODES,
            hint=hint,
        )

    def _prepare(self) -> None:
        """Create the folders and write the configuration file (once per engine)."""
        if self._prepared:
            return
        home = self.home
        try:
            for folder in (self._repository, home, home / "log", home / "lock", home / "spool"):
                if not folder.is_dir():
                    folder.mkdir(mode=0o750, parents=True)
                    cluster.give_to(folder, self._user)
            write_text_atomic(self.config_file, self._config_text(), mode=0o640)
            cluster.give_to(self.config_file, self._user)
        except OSError as error:
            raise BackupError(f"cannot prepare pgBackRest's folders: {error}") from None
        cluster.check_reachable(self.config_file, self._user)
        cluster.check_reachable(self._repository, self._user)
        self._prepared = True

    def _config_text(self) -> str:
        options = {
            "repo1-path": str(self._repository),
            **self._global_options,
            "start-fast": "y",
            "expire-auto": "n",
            "log-path": str(self.home / "log"),
            "lock-path": str(self.home / "lock"),
            "spool-path": str(self.home / "spool"),
            "log-level-console": "warn",
            "log-level-file": "info",
        }
        lines = [
            "# Written by backout; rewritten on each use: change backout.yaml instead.",
            "[global]",
            *(f"{name}={value}" for name, value in options.items()),
            "",
            f"[{self._stanza}]",
            f"pg1-path={self._data_dir}",
        ]
        return "\n".join(lines) + "\n"


def verify_problems(done: subprocess.CompletedProcess[str]) -> list[str]:
    """What pgbackrest verify found wrong: its per-file lines, its summary, its errors."""
    output = done.stdout + done.stderr
    problems = [
        line.split("INFO: ", 1)[1].strip()
        for line in output.splitlines()
        if re.search(r"INFO: (invalid|missing|skip)", line)
    ]
    if not problems and "status: error" in output:
        problems.append(output[output.index("status: error") :].strip())
    problems += [f"[{code}] {message}" for code, message in ERROR_LINE.findall(output)]
    if done.returncode != 0 and not problems:
        problems.append(f"pgbackrest verify exited {done.returncode}")
    return problems
