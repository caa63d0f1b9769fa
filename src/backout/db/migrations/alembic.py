"""Alembic projects, through Alembic's own API.

The head is read from the version table (`alembic_version` unless configured). A revert plan's
SQL for each step is Alembic's offline rendering of that step's downgrade (`alembic downgrade
REV:DOWN --sql`), which is what gets classified; the revert itself runs Alembic's online
downgrade one revision at a time, so each step is one env.py run and one transaction, with
its version-table update inside it (PostgreSQL's DDL is transactional). `upgrade()` is
`alembic upgrade` to the newest revision: one env.py run (the generated env.py applies every
pending revision in one transaction).

What a project's env.py must do: take its URL from `config.get_main_option("sqlalchemy.url")`
(the env.py `alembic init` generates does, in both modes). backout sets that option to the
database's URL (as `postgresql+psycopg://`, with `options=-c lock_timeout=...`) and overrides
any `sqlalchemy.url` in the ini; an env.py that reads an environment variable instead must
prefer the option when it is set. It must support offline mode (`--sql`) for the plan to be
classified: a step whose SQL cannot be rendered is listed as not classified, never as safe.
The database's URL is also in `config.attributes["backout_database_url"]`. backout loads the
ini's options but not its logging sections (env.py's `fileConfig` would reset the logging of
the whole backout process). Only linear histories are supported (no branches, no merges).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import psycopg
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import Script, ScriptDirectory
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL

from backout.db.connection import Connection
from backout.db.migrations._sql_steps import db_error, first_line
from backout.db.migrations.base import (
    BASE,
    Migration,
    MigrationError,
    MigrationSettings,
    MigrationStatus,
    RevertPlan,
    RevertStep,
    Unclassified,
    database_of,
    resolve_revision,
    steps_still_to_run,
)
from backout.db.migrations.classify import classify, read_only_connection
from backout.errors import BackoutError
from backout.registry import PluginContext

log = logging.getLogger(__name__)

_URL_KEYS = {"host", "port", "user", "password", "dbname"}


class AlembicSettings(MigrationSettings):
    script_location: str = Field(
        description="The folder with env.py and versions/, relative to the config file."
    )
    ini: str | None = Field(
        None,
        description="The project's alembic.ini (or pyproject.toml with [tool.alembic]), for its "
        "other options; script_location and sqlalchemy.url from here win over it.",
    )
    version_table: str = Field("alembic_version", description="As env.py configures it.")
    version_table_schema: str | None = Field(None, description="As env.py configures it.")


class AlembicAdapter:
    """Reads and reverts an Alembic project's migrations; see the module doc."""

    def __init__(self, settings: AlembicSettings, context: PluginContext) -> None:
        self._database = database_of(context)
        self._script_location = context.resolve(settings.script_location)
        self._ini = context.resolve(settings.ini) if settings.ini else None
        self._settings = settings
        parts = [settings.version_table_schema, settings.version_table]
        self._version_table = sql.Identifier(*[p for p in parts if p])

    def status(self) -> MigrationStatus:
        chain = self._chain()
        with self._database.connect() as connection:
            head = self._head(connection, chain)
        cut = _position(head, chain) + 1
        return MigrationStatus(
            head=head,
            applied=[Migration(s.revision, _label(s), None) for s in chain[:cut]],
            pending=[Migration(s.revision, _label(s), None) for s in chain[cut:]],
        )

    def revert_plan(self, to: str) -> RevertPlan:
        chain = self._chain()
        target = resolve_revision(to, [s.revision for s in chain])
        with read_only_connection(self._database) as connection:
            head = self._head(connection, chain)
            low, high = _position(target, chain), _position(head, chain)
            if low > high:
                raise MigrationError(
                    f"revision {target} is not applied (the head is {head or 'empty'})",
                    hint="revert only goes back to an applied revision",
                )
            scripts = list(reversed(chain[low + 1 : high + 1]))
            steps = [self._step(connection, script) for script in scripts]
        return RevertPlan(head, to_revision=target, steps=steps)

    def revert(self, plan: RevertPlan) -> None:
        chain = self._chain()
        for _ in plan.steps:
            with self._database.connect() as connection:
                remaining = steps_still_to_run(plan, self._head(connection, chain))
            if not remaining:
                return
            step = remaining[0]
            self._downgrade(step, plan.revision_after(step))

    def upgrade(self) -> list[str]:
        """`alembic upgrade` to the newest revision; the revisions it applied, oldest first."""
        before = self.status()
        if not before.pending:
            return []
        newest = before.pending[-1].revision
        self._alembic(command.upgrade, newest, f"upgrading to {newest}", offline=None)
        applied = {m.revision for m in self.status().applied}
        done = [m.revision for m in before.pending if m.revision in applied]
        log.info("applied %s to %s", ", ".join(done), self._database.name)
        return done

    def _step(self, connection: Connection, script: Script) -> RevertStep:
        down = _down_revision(script)
        try:
            text = self._offline_sql(script.revision, down)
        except BackoutError as error:
            reason = f"Alembic could not render its SQL offline: {error.message}"
            unknown = Unclassified(f"-- downgrade() of {script.revision}", reason)
            return RevertStep(script.revision, _label(script), "", [], [unknown])
        found = classify(
            connection,
            text,
            source=f"the offline SQL of {script.revision}",
            ignore_tables={self._settings.version_table},
        )
        return RevertStep(script.revision, _label(script), text, found.losses, found.unclassified)

    def _offline_sql(self, revision: str, down: str) -> str:
        buffer = io.StringIO()
        self._alembic(
            command.downgrade, f"{revision}:{down}", f"rendering {revision}", offline=buffer
        )
        return buffer.getvalue()

    def _downgrade(self, step: RevertStep, target: str) -> None:
        doing = f"reverting {step.revision} ({step.name})"
        self._alembic(command.downgrade, target, doing, offline=None)
        log.info("reverted %s (%s) of %s", step.revision, step.name, self._database.name)

    def _alembic(
        self,
        alembic_command: Callable[..., None],
        revision: str,
        doing: str,
        *,
        offline: io.StringIO | None,
    ) -> None:
        """`alembic downgrade|upgrade`, online or (into `offline`) as SQL. env.py and the
        migrations are the project's code, so any error they raise is translated here."""
        reverting = alembic_command is command.downgrade and offline is None
        try:
            alembic_command(self._config(offline), revision, sql=offline is not None)
        except sa_exc.DBAPIError as error:
            if isinstance(error.orig, psycopg.Error):
                raise db_error(error.orig, doing, rolled_back=reverting) from None
            raise MigrationError(f"{doing} failed: {first_line(error)}") from None
        except BackoutError:
            raise
        except Exception as error:  # the project's env.py and migration code
            raise MigrationError(
                f"{doing} failed: {type(error).__name__}: {first_line(error)}"
            ) from None

    def _config(self, output: io.StringIO | None) -> AlembicConfig:
        if self._ini is not None and not self._ini.is_file():
            raise MigrationError(f"the Alembic config file {self._ini} does not exist")
        quiet = io.StringIO()
        if self._ini is not None and self._ini.suffix == ".toml":
            config = AlembicConfig(toml_file=self._ini, output_buffer=output, stdout=quiet)
        else:
            config = AlembicConfig(file_=self._ini, output_buffer=output, stdout=quiet)
        _ = config.file_config  # load the ini now, with %(here)s, then forget its file name:
        config.config_file_name = None  # so env.py does not fileConfig() backout's logging away
        url = sqlalchemy_url(self._database.conninfo, self._settings.lock_timeout.total_seconds())
        config.set_main_option("script_location", str(self._script_location))
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        if not config.get_main_option("path_separator"):
            config.set_main_option("path_separator", "os")
        config.attributes["backout_database_url"] = url
        return config

    def _chain(self) -> list[Script]:
        """Every revision, oldest first; MigrationError for a branched history."""
        if not (self._script_location / "env.py").is_file():
            raise MigrationError(f"no Alembic env.py in {self._script_location}")
        try:
            script = ScriptDirectory.from_config(self._config(None))
            heads, bases = script.get_heads(), script.get_bases()
            chain = list(reversed(list(script.walk_revisions())))
        except Exception as error:  # the project's revision files are imported here
            raise MigrationError(
                f"cannot read the Alembic revisions in {self._script_location}: {first_line(error)}"
            ) from None
        if len(heads) > 1 or len(bases) > 1 or any(_is_merge(s) for s in chain):
            raise MigrationError(
                f"the Alembic history in {self._script_location} has branches "
                f"(heads: {', '.join(heads)}); backout reverts linear histories only",
                hint="revert with `alembic downgrade` directly",
            )
        return chain

    def _head(self, connection: Connection, chain: list[Script]) -> str | None:
        table = self._version_table.as_string(connection)
        try:
            found = connection.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()
            if not found or not found[0]:
                return None
            query = sql.SQL("SELECT version_num FROM {}").format(self._version_table)
            versions = [str(row[0]) for row in connection.execute(query).fetchall()]
        except psycopg.Error as error:
            raise db_error(error, f"reading {table}") from None
        if len(versions) > 1:
            raise MigrationError(f"{table} holds several heads ({', '.join(versions)})")
        if versions and versions[0] not in {s.revision for s in chain}:
            raise MigrationError(
                f"the database is at revision {versions[0]}, which {self._script_location} "
                "does not have",
                hint="point script_location at the newest release's migrations",
            )
        return versions[0] if versions else None


def sqlalchemy_url(conninfo: str, lock_timeout_s: float | None = None) -> str:
    """The libpq conninfo (URL or key=value) as a SQLAlchemy psycopg URL, with the password."""
    params = {key: str(value) for key, value in conninfo_to_dict(conninfo).items()}
    query = {key: value for key, value in params.items() if key not in _URL_KEYS}
    host = params.get("host")
    if host and (host.startswith("/") or "," in host):
        query["host"] = host  # a socket folder or several hosts: libpq's own syntax
        host = None
    if lock_timeout_s is not None:
        option = f"-c lock_timeout={max(1, int(lock_timeout_s * 1000))}"
        query["options"] = f"{query['options']} {option}" if "options" in query else option
    url = URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        host=host,
        port=int(params["port"]) if params.get("port", "").isdigit() else None,
        database=params.get("dbname"),
        query=query,
    )
    return url.render_as_string(hide_password=False)


def _position(revision: str | None, chain: list[Script]) -> int:
    """Index of `revision` in the chain; -1 for BASE or an empty schema."""
    if revision is None or revision == BASE:
        return -1
    return [s.revision for s in chain].index(revision)


def _down_revision(script: Script) -> str:
    down = script.down_revision
    return down if isinstance(down, str) else BASE


def _is_merge(script: Script) -> bool:
    return isinstance(script.down_revision, tuple | list) and len(script.down_revision) > 1


def _label(script: Script) -> str:
    return (script.doc or "").strip().splitlines()[0] if (script.doc or "").strip() else ""
