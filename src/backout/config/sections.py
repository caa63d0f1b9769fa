"""The plain sections of backout.yaml: plug-in specs, objectives, state, databases, flags,
watch, contacts (services have their own module)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from backout.durations import Duration, LoopInterval, PositiveDuration, at_least
from backout.state_url import state_url_problem

DEFAULT_CONFIG_NAME = "backout.yaml"
# A name that may stand in a subject (`database:main`): no ":" or spaces.
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")


class Section(BaseModel):
    """A section of backout.yaml: unknown keys refused, values frozen once loaded."""

    # allow_inf_nan: `above: .nan` would compare false with everything (a trigger that inverts).
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, defer_build=True, allow_inf_nan=False
    )


class PluginSpec(BaseModel):
    """A `type:`-selected plug-in section; the rest of its keys belong to the plug-in."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    type: str = Field(description="Which implementation to use, by its registered name.")

    def settings(self) -> dict[str, Any]:
        """The plug-in's own keys, without `type`."""
        return dict(self.model_extra or {})


class RtoObjectives(Section):
    critical: PositiveDuration = Field(
        timedelta(minutes=15), description="RTO of a critical service."
    )
    core: PositiveDuration = Field(timedelta(minutes=30), description="RTO of a core service.")
    full_system: PositiveDuration = Field(timedelta(hours=2), description="RTO of a full rollback.")
    database: PositiveDuration = Field(
        timedelta(hours=1), description="RTO of a database rollback."
    )


def _default_rpo() -> dict[str, timedelta]:
    return {
        "user_data": timedelta(minutes=5),
        "transactional": timedelta(minutes=1),
        "configuration": timedelta(minutes=15),
    }


class Objectives(Section):
    rto: RtoObjectives = Field(default_factory=RtoObjectives, description="Recovery time.")
    rpo: dict[str, PositiveDuration] = Field(
        default_factory=_default_rpo, description="Recovery point, per data class."
    )


class StateSettings(Section):
    database: str = Field(
        "sqlite:///.backout/state.db",
        min_length=1,
        description="SQLAlchemy URL of backout's own state; sqlite paths are relative to the "
        "config file. BACKOUT_DATABASE_URL overrides it.",
    )

    @field_validator("database")
    @classmethod
    def _database_is_a_supported_url(cls, url: str) -> str:
        problem = state_url_problem(url)
        if problem is not None:
            raise ValueError(problem)
        return url

    directory: str = Field(
        ".backout", description="Where logs, pid files and release folders live (relative)."
    )
    lease: Annotated[Duration, at_least(timedelta(milliseconds=100))] = Field(
        timedelta(seconds=10),
        description="How long a controller's lease on a run or on the watch lasts without a "
        "renewal; a controller that died is taken over after it (see docs/architecture.md).",
    )
    lease_renew: Annotated[Duration, at_least(timedelta(milliseconds=10))] = Field(
        timedelta(seconds=3),
        description="How often a held lease is renewed; under half of `lease`.",
    )

    @model_validator(mode="after")
    def _renewed_well_within_the_lease(self) -> StateSettings:
        if self.lease_renew * 2 > self.lease:
            raise ValueError("lease_renew must be at most half of lease, or a lease lapses")
        return self


class ClusterSettings(Section):
    """Where a database's server keeps its files: needed for physical backups and restores."""

    data_dir: str = Field(description="The cluster's data directory (PGDATA).")
    bindir: str = Field(
        "/usr/lib/postgresql/15/bin", description="Where pg_ctl, postgres and pg_dump are."
    )
    os_user: str | None = Field(
        None, description="The operating-system user owning data_dir (default: its owner)."
    )


class IntegrityAssertion(Section):
    name: str = Field(description="Shown in the integrity report.")
    sql: str = Field(description="A query returning one boolean row: true when all is well.")


class IntegritySettings(Section):
    assertions: list[IntegrityAssertion] = Field(
        default_factory=list, description="Your own checks, e.g. no booking without a member."
    )
    recent: dict[str, str] = Field(
        default_factory=dict,
        description="table → timestamp column: the newest row shows recent writes survived.",
    )


class DatabaseConfig(Section):
    """A PostgreSQL database backout backs up, restores and reverts."""

    url: str = Field(
        description="libpq URL or key=value string (a password is better in PGPASSWORD)."
    )
    data_class: str = Field(
        "transactional", description="Which RPO objective applies (a key of objectives.rpo)."
    )

    @field_validator("url")
    @classmethod
    def _a_postgresql_url(cls, url: str) -> str:
        text = url.strip()
        scheme = _URL_SCHEME.match(text)
        if scheme and scheme.group(1).lower() in ("postgresql", "postgres"):
            return text
        if not scheme and "=" in text:
            return text  # libpq's key=value form: host=... dbname=... (a value may hold "://")
        raise ValueError(
            "expected a PostgreSQL connection: postgresql://user@host:5432/dbname, or "
            f"key=value pairs (host=... dbname=...); got {text!r}"  # ConfigError masks a password
        )

    cluster: ClusterSettings | None = Field(None, description="Needed for physical backups.")
    backup: PluginSpec = Field(
        default_factory=lambda: PluginSpec(type="pg_dump"),
        description="The backup engine: pg_dump (logical) or pgbackrest (physical, PITR).",
    )
    migrations: PluginSpec | None = Field(
        None, description="The migration tool: alembic, prisma or sql (up/down files)."
    )
    integrity: IntegritySettings = Field(default_factory=IntegritySettings)
    lost_writes_tables: list[str] | None = Field(
        None, description="Tables the lost-writes report covers (default: all with a key)."
    )


class FlagDefinition(Section):
    """A flag as the config declares it; the builtin provider creates it once, then its state
    (on, off, exposure) lives in backout's store, where the kill switch changes it."""

    description: str = ""
    enabled: bool = True
    rollout: int | None = Field(
        None, ge=0, le=100, description="Percent of users (sticky on user id) who get it."
    )
    strategies: list[dict[str, Any]] = Field(
        default_factory=list,
        description="More Unleash strategies (name, parameters, constraints), as Unleash "
        "writes them.",
    )
    variants: list[dict[str, Any]] = Field(
        default_factory=list, description="Unleash variants (name, weight, payload, stickiness)."
    )


class FlagSettings(Section):
    provider: PluginSpec = Field(
        default_factory=lambda: PluginSpec(type="builtin"),
        description="Where flags live: builtin (backout's store, served to Unleash SDKs) or "
        "unleash (an Unleash server, through its admin API).",
    )
    definitions: dict[str, FlagDefinition] = Field(default_factory=dict)


class WatchSettings(Section):
    interval: LoopInterval = Field(
        timedelta(seconds=1), description="Time between watch cycles (at least 10ms)."
    )
    inconclusive_alert_after: int = Field(
        10,
        ge=1,
        le=100_000,
        description="Consecutive inconclusive readings of a service (its source cannot be "
        "read, too little traffic) after which the watch loop raises an alert.",
    )


def repeated_names(section: str, names: list[str]) -> list[str]:
    """Each name of a list section given again (it is one subject, one lock), by its key:
    `dns[2].name: 'www.example.com' is listed already as dns[0]`."""
    first: dict[str, int] = {}
    problems = []
    for i, name in enumerate(names):
        if name in first:
            problems.append(
                f"{section}[{i}].name: {name!r} is listed already as {section}[{first[name]}]"
            )
        first.setdefault(name, i)
    return problems


def role_name(role: str) -> str:
    """'Incident-Commander' and 'incident commander' are the role incident_commander."""
    return re.sub(r"[\s\-]+", "_", role.strip().lower())


class Contact(Section):
    """A person of the runbook's Emergency Contacts: the roles they hold, and how to reach them."""

    name: str = Field(min_length=1, description="Unique; audiences and approvals name it.")
    role: str | None = Field(
        None, description="One role (or use roles): lead_developer, devops, dba, ..."
    )
    roles: list[str] = Field(
        default_factory=list,
        description="lead_developer, devops, dba, product, customer_success, "
        "incident_commander, or your own.",
    )
    email: str | None = Field(None, description="Reached through notifications.email.")
    phone: str | None = Field(None, description="Reached through notifications.sms.")
    channels: list[str] = Field(
        default_factory=list, description="Names under notifications.channels that reach them."
    )

    def all_roles(self) -> list[str]:
        """Every role, written as role names are compared ('incident-commander' →
        'incident_commander')."""
        named = ([self.role] if self.role else []) + self.roles
        return [role_name(role) for role in named]
