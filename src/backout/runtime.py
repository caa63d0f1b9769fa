"""The runtime: a loaded config, its state store, and the plug-ins built from it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backout.checks import CHECKS, Check
from backout.clock import Clock, SystemClock
from backout.config import Config, PluginSpec, key_path, load_config
from backout.drivers import DRIVERS, Driver, SlotCapable
from backout.errors import ConfigError
from backout.flags import FLAG_PROVIDERS, FlagProvider
from backout.flags.context import flag_plugin_context
from backout.http_url import PORT_PLACEHOLDER
from backout.metric_history import MetricHistory
from backout.metrics import METRIC_SOURCES, ConfiguredMetricHub, MetricHub, MetricSource
from backout.metrics.hub import SourceSpecs
from backout.registry import PluginContext, Registry
from backout.routers import ROUTERS, Router, VersionLocating
from backout.store import Store
from backout.store.engine import TIMELINE_HOOK

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from backout.db.connection import Database
    from backout.notify.outbox import Outbox
    from backout.store import TimelineEvent


class Runtime:
    """Everything a command needs; plug-ins are built once, on first use."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock | None = None,
        metrics: MetricHub | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._outbox: Outbox | None = None
        self.clock: Clock = clock or SystemClock()
        self.metric_hub: MetricHub = metrics or ConfiguredMetricHub(
            METRIC_SOURCES, metric_source_specs(config), self._context
        )
        self.driver = cache(self._build_driver)
        self.router = cache(self._build_router)
        self.health_checks = cache(self._build_health_checks)
        self.flags = cache(self._build_flags)
        self.metric_history = MetricHistory(store, config.environment, self.clock)
        if config.notifications.audiences:
            store.session_info[TIMELINE_HOOK] = self._queue_notifications

    @classmethod
    def open(
        cls,
        config_path: Path | str | None = None,
        *,
        clock: Clock | None = None,
        metrics: MetricHub | None = None,
    ) -> Runtime:
        config = load_config(config_path)
        validate_plugins(config)
        return cls(config, Store.open(config.database_url()), clock, metrics)

    @property
    def environment(self) -> str:
        return self.config.environment

    def database(self, name: str) -> Database:
        """The live database `name` of the config, to connect to."""
        from backout.db.connection import Database  # noqa: PLC0415 - psycopg only when used

        return Database(name, self.config.database(name).url)

    def metrics(self, service: str) -> MetricSource | None:
        return self.metric_hub.source(service)

    def close(self) -> None:
        self.metric_hub.close()
        self.store.close()

    def _queue_notifications(self, session: Session, event: TimelineEvent) -> None:
        """The timeline hook: queue what the event tells its audiences, in its transaction."""
        from backout.notify.outbox import Outbox  # noqa: PLC0415 - only once an event is written

        if self._outbox is None:
            self._outbox = Outbox(self.config)
        self._outbox.on_event(session, event)

    def _context(self, service: str) -> PluginContext:
        return plugin_context(self.config, service)

    def _build_driver(self, service: str) -> Driver:
        spec = self.config.service(service).driver
        return DRIVERS.build(spec, ("services", service, "driver"), self._context(service))

    def _build_router(self, service: str) -> Router:
        router = build_router(self.config, service)
        if isinstance(router, VersionLocating):
            router.use_locator(lambda version: self._port_of(service, version))
        return router

    def _port_of(self, service: str, version: str) -> int | None:
        """The port `version` of `service` runs on, as its driver says; None if it runs nowhere."""
        driver = self.driver(service)
        if isinstance(driver, SlotCapable):
            return driver.port_of(version)
        status = driver.status()
        return status.port if status.version == version else None

    def _build_health_checks(self, service: str) -> list[Check]:
        specs = self.config.service(service).health
        context = self._context(service)
        return [
            CHECKS.build(spec, ("services", service, "health", i), context)
            for i, spec in enumerate(specs)
        ]

    def health_checks_at(self, service: str, port: Callable[[], int | None]) -> list[Check]:
        """The service's health checks aimed at where the version under check runs: `{port}`
        in a check's settings becomes `port()` (asked only when a check has the placeholder),
        so a check follows a version into the slot it was started in."""
        specs = self.config.service(service).health
        if not any(_mentions_port(spec.settings()) for spec in specs):
            return self.health_checks(service)
        where = port()
        if where is None:
            raise ConfigError(
                str(self.config.source),
                [f"services.{service}.health: {{port}} is used, but its driver knows no port"],
                hint="give the driver a port (or slots), or write the port in the check",
            )
        context = self._context(service)
        return [
            CHECKS.build(_aimed(spec, where), ("services", service, "health", i), context)
            for i, spec in enumerate(specs)
        ]

    def _build_flags(self) -> FlagProvider:
        """The flag provider of this environment."""
        context = flag_plugin_context(self.config, self.store)
        return FLAG_PROVIDERS.build(self.config.flags.provider, ("flags", "provider"), context)


def plugin_context(config: Config, service: str) -> PluginContext:
    return PluginContext(
        service=service,
        config_file=config.source,
        base_dir=config.base_dir,
        state_dir=config.state_dir,
        environment=config.environment,
    )


def build_router(config: Config, service: str) -> Router:
    """`service`'s router, built from its section (no side effects)."""
    spec = config.service(service).router
    return ROUTERS.build(spec, ("services", service, "router"), plugin_context(config, service))


def metric_source_specs(config: Config) -> SourceSpecs:
    """Each service's metric source sections (`metrics:` and the `probe:` shorthand), and where."""
    specs: dict[str, list[tuple[PluginSpec, tuple[str | int, ...]]]] = {}
    for name, service in config.services.items():
        sources = service.metric_sources()
        if sources:
            specs[name] = [(section, ("services", name, *key)) for section, key in sources]
    return specs


Section = tuple[Registry[Any], PluginSpec, tuple[str | int, ...], PluginContext]


def _plugin_sections(config: Config) -> Iterator[Section]:
    """Every `type:`-selected section of the config, with the registry that builds it."""
    for name, service in config.services.items():
        context = plugin_context(config, name)
        yield DRIVERS, service.driver, ("services", name, "driver"), context
        yield ROUTERS, service.router, ("services", name, "router"), context
        for i, spec in enumerate(service.health):
            yield CHECKS, spec, ("services", name, "health", i), context
    if config.databases:
        yield from _database_sections(config)
    flags = config.flags.provider
    yield FLAG_PROVIDERS, flags, ("flags", "provider"), flag_plugin_context(config, None)
    if config.dns:
        yield from _dns_sections(config)
    if config.infrastructure:
        yield from _stack_sections(config)


def _stack_sections(config: Config) -> Iterator[Section]:
    from backout.infra import STACK_TOOLS, stack_plugin_context  # noqa: PLC0415 - when configured

    for index, stack in enumerate(config.infrastructure):
        where = ("infrastructure", index, "tool")
        yield STACK_TOOLS, stack.tool, where, stack_plugin_context(config, index)


def _dns_sections(config: Config) -> Iterator[Section]:
    from backout.dns import DNS_PROVIDERS, dns_plugin_context  # noqa: PLC0415 - when configured

    for index, record in enumerate(config.dns):
        where = ("dns", index, "provider")
        yield DNS_PROVIDERS, record.provider, where, dns_plugin_context(config, index)


def _database_sections(config: Config) -> Iterator[Section]:
    # Imported here: the database room brings a PostgreSQL driver that a config without
    # databases never uses, and every command opens the runtime.
    from backout.db.backup import BACKUP_ENGINES  # noqa: PLC0415
    from backout.db.context import db_plugin_context  # noqa: PLC0415
    from backout.db.migrations import MIGRATION_ADAPTERS  # noqa: PLC0415

    for name, database in config.databases.items():
        context = db_plugin_context(config, name)
        yield BACKUP_ENGINES, database.backup, ("databases", name, "backup"), context
        if database.migrations is not None:
            where = ("databases", name, "migrations")
            yield MIGRATION_ADAPTERS, database.migrations, where, context


def validate_plugins(config: Config) -> None:
    """Build every plug-in section once (no side effects) and report all problems together;
    each trigger must name a metric its service's source provides."""
    problems: list[str] = []
    for registry, spec, where, context in _plugin_sections(config):
        try:
            registry.build(spec, where, context)
        except ConfigError as error:
            problems += error.problems
    for name, specs in metric_source_specs(config).items():
        problems += _metric_source_problems(config, name, specs)
    if problems:
        raise ConfigError(str(config.source), problems)


def _metric_source_problems(
    config: Config, service: str, specs: list[tuple[PluginSpec, tuple[str | int, ...]]]
) -> list[str]:
    """What is wrong with a service's metric sources: their settings, a metric two of them
    provide, a trigger on a metric none provides."""
    problems: list[str] = []
    provider: dict[str, str] = {}  # metric -> where the source providing it is
    for spec, where in specs:
        try:
            source = METRIC_SOURCES.build(spec, where, plugin_context(config, service))
        except ConfigError as error:
            problems += error.problems
            continue
        taken: dict[str, list[str]] = {}  # where the other source is -> the metrics it has
        for metric in source.provides.names():
            if metric in provider:
                taken.setdefault(provider[metric], []).append(metric)
            provider.setdefault(metric, f"{key_path(where)} ({spec.type})")
        problems += [
            f"{key_path(where)}: {', '.join(metrics)} provided by {other} already; a metric "
            "name belongs to one source"
            for other, metrics in taken.items()
        ]
    if problems:
        return problems
    provided = ", ".join(sorted(provider))
    types = " and ".join(spec.type for spec, _ in specs)
    return [
        f"{key_path(('services', service, 'triggers', i, 'metric'))}: {rule.metric!r} is not "
        f"a metric of the {types} source (it provides: {provided})"
        for i, rule in enumerate(config.service(service).triggers)
        if rule.metric not in provider
    ]


def _mentions_port(value: Any) -> bool:
    if isinstance(value, str):
        return PORT_PLACEHOLDER in value
    if isinstance(value, list):
        return any(_mentions_port(item) for item in value)
    if isinstance(value, dict):
        return any(_mentions_port(item) for item in value.values())
    return False


def _with_port(value: Any, port: int) -> Any:
    if isinstance(value, str):
        return value.replace(PORT_PLACEHOLDER, str(port))
    if isinstance(value, list):
        return [_with_port(item, port) for item in value]
    if isinstance(value, dict):
        return {key: _with_port(item, port) for key, item in value.items()}
    return value


def _aimed(spec: PluginSpec, port: int) -> PluginSpec:
    """`spec` with `{port}` filled in wherever its settings say it."""
    return PluginSpec(type=spec.type, **_with_port(spec.settings(), port))
