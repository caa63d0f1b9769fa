"""The `backout.yaml` schema and its loader: one place, every problem reported with its key path.

Precedence: built-in defaults, then `backout.yaml`, then `BACKOUT_*` environment variables
(`BACKOUT_DATABASE_URL` replaces `state.database`). Plug-in sections (`driver:`, `router:`,
health checks) carry a `type:` and are validated by the plug-in's own settings model when the
registry builds them, so their errors carry the same key paths.
"""

from __future__ import annotations

import graphlib
import itertools
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from backout.durations import Duration, LoopInterval, PositiveDuration, at_least
from backout.errors import ConfigError, NotFoundError, UnknownServiceError
from backout.safe_yaml import YamlProblem, read_yaml
from backout.state_url import STATE_URL_VARIABLE, check_state_url_variable, state_url_problem

DEFAULT_CONFIG_NAME = "backout.yaml"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PluginSpec(BaseModel):
    """A `type:`-selected plug-in section; the rest of its keys belong to the plug-in."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(description="Which implementation to use, by its registered name.")

    def settings(self) -> dict[str, Any]:
        """The plug-in's own keys, without `type`."""
        return dict(self.model_extra or {})


class RtoObjectives(_Section):
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


class Objectives(_Section):
    rto: RtoObjectives = Field(default_factory=RtoObjectives, description="Recovery time.")
    rpo: dict[str, PositiveDuration] = Field(
        default_factory=_default_rpo, description="Recovery point, per data class."
    )


class StateSettings(_Section):
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


class TriggerRule(_Section):
    """A condition on a metric of the service's source that, held for `for`, fires an incident."""

    name: str = Field(description="Shown in the incident and the watch loop's sentence.")
    metric: str = Field(
        min_length=1,
        description="Which metric of the service's metric source the rule reads (the probe's: "
        "error_rate, latency_p50, latency_p95, latency_p99, request_rate); `backout check` "
        "refuses one the source does not provide.",
    )
    above: float | None = Field(None, description="Fire when the metric exceeds this value.")
    above_baseline: float | None = Field(
        None,
        gt=1.0,
        description="Fire when the metric exceeds this factor of the last known good "
        "release's own measured baseline (1.5 = 50% worse).",
    )
    baseline_floor: float = Field(
        0.0,
        ge=0,
        description="For above_baseline: the baseline is taken as at least this, so that a "
        "tiny baseline (a 2ms p95) does not turn noise into a rollback.",
    )
    hold: Duration = Field(
        timedelta(seconds=30), alias="for", description="How long the condition must hold."
    )

    @model_validator(mode="after")
    def _exactly_one_threshold(self) -> TriggerRule:
        if (self.above is None) == (self.above_baseline is None):
            raise ValueError("give exactly one of 'above' or 'above_baseline'")
        return self


class ProbeSettings(_Section):
    """The built-in synthetic probe: steady requests whose outcomes feed the triggers.

    Here rather than in metrics/probe.py because a service's `probe:` section (shorthand for
    `metrics: {type: probe, ...}`) is validated with the rest of the config.
    """

    url: str = Field(description="The URL to request, usually a core endpoint.")
    method: Literal["GET", "HEAD", "POST"] = "GET"
    interval: LoopInterval = Field(
        timedelta(milliseconds=200), description="Time between requests (at least 10ms)."
    )
    timeout: PositiveDuration = Field(
        timedelta(seconds=2), description="A slower answer is an error."
    )
    window: Annotated[Duration, at_least(timedelta(seconds=1))] = Field(
        timedelta(seconds=30), description="The sliding window of metrics (at least 1s)."
    )


class StepSettings(_Section):
    timeout: PositiveDuration = Field(
        timedelta(minutes=10), description="Default timeout of a step."
    )
    retries: int = Field(2, ge=0, le=10, description="Retries of a step after a retryable error.")


class ServiceConfig(_Section):
    tier: Literal["critical", "core"] = Field(description="Chooses the RTO objective.")
    driver: PluginSpec = Field(description="How the service is deployed (process, git-build ...).")
    router: PluginSpec = Field(
        default_factory=lambda: PluginSpec(type="none"),
        description="How traffic reaches it; `none` records the traffic steps as skipped.",
    )
    health: list[PluginSpec] = Field(
        default_factory=list, description="Checks that must pass after a deploy or rollback."
    )
    health_timeout: PositiveDuration = Field(
        timedelta(seconds=60), description="How long health checks may take to pass."
    )
    probe: ProbeSettings | None = Field(
        None, description="Shorthand for `metrics: {type: probe, ...}`: synthetic traffic."
    )
    metrics: PluginSpec | None = Field(
        None,
        description="Where the triggers' metrics come from, picked by `type:` (probe, fake); "
        "none: the triggers are unarmed.",
    )
    triggers: list[TriggerRule] = Field(default_factory=list)
    policy: Literal["rollback", "approve", "notify", "flag_first"] = Field(
        "approve",
        description="When a trigger fires: roll back at once, roll back after an approval, "
        "only open the incident, or turn the guarded_by flags off first and roll back only "
        "if the trigger still fires.",
    )
    bake_time: Duration = Field(
        timedelta(minutes=10),
        description="How long the watch loop (backout watch or serve) must watch a live "
        "release, with no trigger firing, before it is good.",
    )
    monitor: Duration = Field(
        timedelta(minutes=30), description="Monitoring window after a rollback."
    )
    traffic_restore: list[int] = Field(
        default_factory=lambda: [10, 50, 100],
        description="Percent stages of the gradual traffic restore; the last must be 100.",
    )
    traffic_hold: Duration = Field(
        timedelta(seconds=30), description="How long each traffic stage is held and watched."
    )
    steps: StepSettings = Field(default_factory=StepSettings)
    guarded_by: list[str] = Field(
        default_factory=list,
        description="Feature flags (under flags.definitions or the flag service) guarding new "
        "code paths of this service: with policy flag_first they are turned off before any "
        "rollback.",
    )
    depends_on: list[str] = Field(
        default_factory=list,
        description="Services this one needs (an API behind a front end). A rollback of "
        "several services stops traffic to dependants first and brings dependencies back first.",
    )
    database: str | None = Field(
        None,
        description="The database (under databases:) whose schema revision each release "
        "expects: a rollback reverts the schema first when the target expects an older one.",
    )

    @model_validator(mode="after")
    def _one_metric_source(self) -> ServiceConfig:
        if self.probe is not None and self.metrics is not None:
            raise ValueError(
                "give either 'probe' or 'metrics', not both ('probe: {...}' is shorthand for "
                "'metrics: {type: probe, ...}')"
            )
        return self

    def metric_source(self) -> tuple[PluginSpec, str] | None:
        """The metric source's section and its key (`metrics`, or `probe` for the shorthand)."""
        if self.metrics is not None:
            return self.metrics, "metrics"
        if self.probe is not None:
            return PluginSpec(type="probe", **self.probe.model_dump()), "probe"
        return None

    @model_validator(mode="after")
    def _restore_ends_at_full_traffic(self) -> ServiceConfig:
        stages = self.traffic_restore
        rising = all(a < b for a, b in itertools.pairwise(stages))
        if not stages or stages[-1] != 100 or stages[0] < 1 or not rising:
            raise ValueError("traffic_restore must rise and end at 100, e.g. [10, 50, 100]")
        return self


class ClusterSettings(_Section):
    """Where a database's server keeps its files: needed for physical backups and restores."""

    data_dir: str = Field(description="The cluster's data directory (PGDATA).")
    bindir: str = Field(
        "/usr/lib/postgresql/15/bin", description="Where pg_ctl, postgres and pg_dump are."
    )
    os_user: str | None = Field(
        None, description="The operating-system user owning data_dir (default: its owner)."
    )


class IntegrityAssertion(_Section):
    name: str = Field(description="Shown in the integrity report.")
    sql: str = Field(description="A query returning one boolean row: true when all is well.")


class IntegritySettings(_Section):
    assertions: list[IntegrityAssertion] = Field(
        default_factory=list, description="Your own checks, e.g. no booking without a member."
    )
    recent: dict[str, str] = Field(
        default_factory=dict,
        description="table → timestamp column: the newest row shows recent writes survived.",
    )


class DatabaseConfig(_Section):
    """A PostgreSQL database backout backs up, restores and reverts."""

    url: str = Field(
        description="libpq URL or key=value string (a password is better in PGPASSWORD)."
    )
    data_class: str = Field(
        "transactional", description="Which RPO objective applies (a key of objectives.rpo)."
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


class FlagDefinition(_Section):
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


class FlagSettings(_Section):
    provider: PluginSpec = Field(
        default_factory=lambda: PluginSpec(type="builtin"),
        description="Where flags live: builtin (backout's store, served to Unleash SDKs) or "
        "unleash (an Unleash server, through its admin API).",
    )
    definitions: dict[str, FlagDefinition] = Field(default_factory=dict)


class WatchSettings(_Section):
    interval: LoopInterval = Field(
        timedelta(seconds=1), description="Time between watch cycles (at least 10ms)."
    )


class Contact(_Section):
    name: str
    role: str = Field(description="e.g. lead-developer, devops, dba, incident-commander")
    email: str | None = None
    phone: str | None = None


class Config(_Section):
    """A whole `backout.yaml`."""

    project: str = Field(
        min_length=1, max_length=100, description="The product's name, shown in reports."
    )
    environment: str = Field(
        "production",
        description="Locks are per environment and service: 1-63 letters, digits, '.', '_' "
        "or '-', starting with a letter or digit.",
    )
    state: StateSettings = Field(default_factory=StateSettings)
    objectives: Objectives = Field(default_factory=Objectives)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    databases: dict[str, DatabaseConfig] = Field(default_factory=dict)
    flags: FlagSettings = Field(default_factory=FlagSettings)
    contacts: list[Contact] = Field(default_factory=list)

    _source: Path = PrivateAttr(default=Path(DEFAULT_CONFIG_NAME))

    @property
    def source(self) -> Path:
        return self._source

    @property
    def base_dir(self) -> Path:
        """Relative paths in the config are relative to the file's folder."""
        return self._source.resolve().parent

    @property
    def state_dir(self) -> Path:
        return self.resolve_path(self.state.directory)

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def database_url(self) -> str:
        """The state store URL, with BACKOUT_DATABASE_URL first and sqlite paths resolved."""
        url = os.environ.get(STATE_URL_VARIABLE) or self.state.database
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve_path(url.removeprefix(prefix)))
        return url

    def services_guarded_by(self, flag_key: str) -> list[str]:
        """The services whose `guarded_by` names the flag, sorted."""
        return sorted(name for name, s in self.services.items() if flag_key in s.guarded_by)

    def service(self, name: str) -> ServiceConfig:
        try:
            return self.services[name]
        except KeyError:
            raise UnknownServiceError(name, sorted(self.services)) from None

    @field_validator("environment")
    @classmethod
    def _environment_is_a_plain_name(cls, name: str) -> str:
        if not _PLAIN_NAME.fullmatch(name):
            raise ValueError(
                "expected 1-63 letters, digits, '.', '_' or '-', starting with a letter or "
                f"digit (e.g. production, staging-eu), got {name!r}"
            )
        return name

    @field_validator("services", "databases")
    @classmethod
    def _plain_names(cls, section: dict[str, Any]) -> dict[str, Any]:
        """Names are subjects of runs and locks (`database:main`): no ':' or spaces in them."""
        for name in section:
            if not _PLAIN_NAME.fullmatch(name):
                raise ValueError(
                    "names are 1-63 letters, digits, '.', '_' or '-', starting with a letter or "
                    f"digit (e.g. backend, checkout-api), got {name!r}"
                )
        return section

    @model_validator(mode="after")
    def _dependencies_are_services_without_a_cycle(self) -> Config:
        for name, service in self.services.items():
            unknown = [d for d in service.depends_on if d not in self.services or d == name]
            if unknown:
                known = ", ".join(n for n in self.services if n != name) or "(none)"
                raise ValueError(
                    f"services.{name}.depends_on names {', '.join(map(repr, unknown))}, not "
                    f"another service (known: {known})"
                )
        try:
            self.dependency_order(list(self.services))
        except graphlib.CycleError as cycle:
            loop = " → ".join(reversed(cycle.args[1]))
            raise ValueError(
                f"services depend on each other in a cycle: {loop}; remove one depends_on"
            ) from None
        return self

    def dependency_order(self, names: list[str]) -> list[str]:
        """`names` with every service after the services it depends on (directly or not);
        ties by name. graphlib.CycleError for a cycle (refused when the config loads)."""
        graph = {n: set(self.services[n].depends_on) for n in sorted(self.services)}
        sorter = graphlib.TopologicalSorter(graph)
        sorter.prepare()
        order: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            order += ready
            sorter.done(*ready)
        wanted = set(names)
        return [n for n in order if n in wanted]

    @model_validator(mode="after")
    def _service_databases_exist(self) -> Config:
        for name, service in self.services.items():
            if service.database is not None and service.database not in self.databases:
                known = ", ".join(self.databases) or "(none)"
                raise ValueError(
                    f"services.{name}.database {service.database!r} is not under databases: "
                    f"(known: {known})"
                )
        return self

    @model_validator(mode="after")
    def _flag_first_names_its_flags(self) -> Config:
        for name, service in self.services.items():
            if service.policy == "flag_first" and not service.guarded_by:
                raise ValueError(
                    f"services.{name}.policy is flag_first but services.{name}.guarded_by "
                    "names no flag to turn off"
                )
        return self

    @model_validator(mode="after")
    def _data_classes_have_objectives(self) -> Config:
        for name, database in self.databases.items():
            if database.data_class not in self.objectives.rpo:
                known = ", ".join(self.objectives.rpo)
                raise ValueError(
                    f"databases.{name}.data_class {database.data_class!r} has no RPO objective "
                    f"(objectives.rpo has: {known})"
                )
        return self

    def database(self, name: str) -> DatabaseConfig:
        try:
            return self.databases[name]
        except KeyError:
            raise NotFoundError(
                f"unknown database {name!r}",
                hint=f"databases in the config: {', '.join(sorted(self.databases)) or '(none)'}",
            ) from None

    def rto_for(self, name: str) -> timedelta:
        return getattr(self.objectives.rto, self.service(name).tier)  # type: ignore[no-any-return]


def key_path(loc: tuple[int | str, ...]) -> str:
    """('services', 'api', 'triggers', 0, 'above') → 'services.api.triggers[0].above'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: Any, prefix: tuple[str | int, ...] = ()) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    where = key_path(prefix + loc) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (misspelt, or not in this version of backout)"
    elif error["type"] == "missing":
        message = "required key is missing"
    return f"{where}: {message}"


def validation_problems(error: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[str]:
    """One line per problem: 'services.api.triggers[0].above: Input should be a valid number'."""
    return [_describe(e, prefix) for e in error.errors()]


def parse_config(data: Any, source: Path) -> Config:
    """Validate already-parsed YAML; raise ConfigError naming every problem."""
    if not isinstance(data, dict):
        raise ConfigError(str(source), ["(top level): expected a mapping of keys such as project:"])
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(
            str(source), validation_problems(error), hint="see `backout init` for a starter file"
        ) from None
    config._source = source
    return config


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate `path` (default: $BACKOUT_CONFIG, then ./backout.yaml)."""
    source = Path(path or os.environ.get("BACKOUT_CONFIG") or DEFAULT_CONFIG_NAME)
    try:
        data = read_yaml(source)
    except YamlProblem as problem:
        raise ConfigError(str(source), [str(problem)]) from None
    except FileNotFoundError:
        raise ConfigError(
            str(source), ["file not found"], hint="create one with `backout init`"
        ) from None
    except OSError as error:
        raise ConfigError(str(source), [f"cannot be read: {error.strerror}"]) from None
    except UnicodeDecodeError as error:
        raise ConfigError(str(source), [f"not UTF-8 text (byte {error.start})"]) from None
    config = parse_config(data, source)
    check_state_url_variable()
    return config
