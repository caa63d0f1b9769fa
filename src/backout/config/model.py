"""`Config`: a whole backout.yaml, with what holds across its sections (names, dependencies,
the state store)."""

from __future__ import annotations

import graphlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from backout.config.alerts import AlertSettings
from backout.config.dns import DnsRecordConfig
from backout.config.infrastructure import StackConfig
from backout.config.notifications import ApprovalSettings, NotificationSettings
from backout.config.pins import PinSettings
from backout.config.reporting import IncidentSettings, StatusPageSettings
from backout.config.sections import (
    DEFAULT_CONFIG_NAME,
    PLAIN_NAME,
    Contact,
    DatabaseConfig,
    FlagSettings,
    Objectives,
    Section,
    StateSettings,
    WatchSettings,
    repeated_names,
    role_name,
)
from backout.config.services import ServiceConfig
from backout.errors import NotFoundError, UnknownServiceError
from backout.state_url import STATE_URL_VARIABLE


class Config(Section):
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
    contacts: list[Contact] = Field(
        default_factory=list, description="The runbook's Emergency Contacts, with their roles."
    )
    notifications: NotificationSettings = Field(
        default_factory=NotificationSettings,
        description="Channels (Apprise URLs), audiences and when each is told "
        "(docs/notifications.md).",
    )
    approvals: ApprovalSettings = Field(
        default_factory=ApprovalSettings,
        description="How long an approval may wait before the next contact is asked.",
    )
    alerts: AlertSettings = Field(
        default_factory=AlertSettings,
        description="The webhook receiver of outside alerts (Alertmanager): which labels name "
        "the service and the category, and the secret of signed deliveries.",
    )
    incidents: IncidentSettings = Field(
        default_factory=IncidentSettings,
        description="Incidents after they are resolved: when their report is due.",
    )
    status_page: StatusPageSettings = Field(
        default_factory=StatusPageSettings,
        description="The public status page of `backout serve` (docs/status-page.md).",
    )
    pins: PinSettings | None = Field(
        None,
        description="Pin rolled-back releases in the team's deploy repository (docs/pins.md).",
    )
    dns: list[DnsRecordConfig] = Field(
        default_factory=list,
        description="DNS records a rollback may set back to their previous target "
        "(docs/platforms.md, dns).",
    )
    infrastructure: list[StackConfig] = Field(
        default_factory=list,
        description="Infrastructure stacks (Terraform) a rollback may apply again with their "
        "previous variables (docs/platforms.md, terraform).",
    )

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
        if not PLAIN_NAME.fullmatch(name):
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
            if not PLAIN_NAME.fullmatch(name):
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

    @model_validator(mode="after")
    def _status_page_names_services(self) -> Config:
        shown = self.status_page.services or []
        unknown = [name for name in shown if name not in self.services]
        if unknown:
            known = ", ".join(self.services) or "(none)"
            raise ValueError(
                f"status_page.services names {', '.join(map(repr, unknown))}, not a service "
                f"(known: {known})"
            )
        return self

    @model_validator(mode="after")
    def _contacts_are_known_to_notifications(self) -> Config:
        names = [contact.name for contact in self.contacts]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"contacts: each name once, but {', '.join(twice)} is twice")
        channels = self.notifications.channels
        for i, contact in enumerate(self.contacts):
            unknown = [c for c in contact.channels if c not in channels]
            if unknown:
                raise ValueError(
                    f"contacts[{i}].channels names {', '.join(map(repr, unknown))}, not under "
                    f"notifications.channels (known: {', '.join(channels) or '(none)'})"
                )
        for name, audience in self.notifications.audiences.items():
            unknown = [c for c in audience.contacts if c not in names]
            if unknown:
                raise ValueError(
                    f"notifications.audiences.{name}.contacts names "
                    f"{', '.join(map(repr, unknown))}, not under contacts: "
                    f"(known: {', '.join(names) or '(none)'})"
                )
        return self

    @model_validator(mode="after")
    def _dns_names_once(self) -> Config:
        problems = repeated_names("dns", [record.name for record in self.dns])
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _stack_names_once(self) -> Config:
        problems = repeated_names("infrastructure", [s.name for s in self.infrastructure])
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def stack(self, name: str) -> StackConfig:
        """The stack `name` of `infrastructure:`; NotFoundError lists the known ones."""
        found = next((stack for stack in self.infrastructure if stack.name == name), None)
        if found is None:
            known = ", ".join(stack.name for stack in self.infrastructure) or "(none)"
            raise NotFoundError(
                f"unknown infrastructure stack {name!r}",
                hint=f"infrastructure: in the config: {known}",
            )
        return found

    def dns_record(self, name: str) -> DnsRecordConfig:
        """The record `name` of `dns:`; NotFoundError lists the known ones."""
        wanted = name.rstrip(".").lower()
        found = next((record for record in self.dns if record.name == wanted), None)
        if found is None:
            known = ", ".join(record.name for record in self.dns) or "(none)"
            raise NotFoundError(f"unknown DNS record {name!r}", hint=f"dns: in the config: {known}")
        return found

    def contacts_for(self, names_or_roles: list[str]) -> list[Contact]:
        """The contacts named, or holding a role named, in that order, each once."""
        found: list[Contact] = []
        for wanted in names_or_roles:
            role = role_name(wanted)
            for contact in self.contacts:
                if (contact.name == wanted or role in contact.all_roles()) and contact not in found:
                    found.append(contact)
        return found

    def escalate_after(self, service: str) -> timedelta | None:
        """How long a run of `service` may wait at its approval gate before escalating."""
        own = self.services[service].escalate_after if service in self.services else None
        return own if own is not None else self.approvals.escalate_after

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
