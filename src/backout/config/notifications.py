"""The `notifications:`, `approvals:` sections and the contacts they name: who is told what,
through which channel, and who is asked next when an approval waits too long.

A channel is one or more Apprise URLs (Slack, e-mail, SMS, Teams, PagerDuty, webhooks: all by
URL). A URL's secrets are best kept in the environment: `${SLACK_TOKEN}` in a URL is replaced
by the variable when a notification is sent, and the value is masked wherever text leaves
backout. A URL is never shown: people see the channel's name and the URL's scheme.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from backout.config.sections import Section, role_name
from backout.durations import PositiveDuration
from backout.http_url import HttpUrl

# `${NAME}` in a channel URL: an environment variable's value, read when the URL is used.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]{0,127})\}")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*://")

Moment = Literal["detected", "rollback_started", "rollback_finished", "resolved", "report_reminder"]
ROLES = (
    "lead_developer",
    "devops",
    "dba",
    "product",
    "customer_success",
    "incident_commander",
)


def _is_apprise_url(url: SecretStr) -> SecretStr:
    if not _SCHEME.match(url.get_secret_value()):
        raise ValueError(
            "expected an Apprise URL (e.g. slack://..., mailtos://..., json://host/path)"
        )
    return url


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


ChannelUrl = Annotated[SecretStr, AfterValidator(_is_apprise_url)]
"""An Apprise URL: its secrets are never shown (a model dump prints it as **********)."""
ChannelUrls = Annotated[list[ChannelUrl], BeforeValidator(_as_list)]


class NotificationRule(Section):
    """When an audience is told, and what it is told."""

    when: Moment | None = Field(
        None,
        description="detected (at once), rollback_started, rollback_finished, resolved, or "
        "report_reminder (the post-incident report is still unwritten when due); or give "
        "outage_longer_than instead.",
    )
    outage_longer_than: PositiveDuration | None = Field(
        None,
        description="Told once per incident, when the outage (from its start, or its "
        "detection) has lasted longer than this and the incident is still open.",
    )
    title: str | None = Field(None, description="Jinja2 template of the title (default by when).")
    template: str | None = Field(
        None,
        description="Jinja2 template of the message (sandboxed), with the incident's facts: "
        "service, title, status, incident_id, detected_at, recovered_at, resolved_at, "
        "elapsed, time_to_detect, time_to_recover, rto, objectives, from_version, "
        "to_version, event, url (default by when).",
    )

    @field_validator("title", "template")
    @classmethod
    def _template_compiles(cls, text: str | None) -> str | None:
        if text is not None:
            # Imported here: only a config with its own templates pays for Jinja2 at load.
            from jinja2 import TemplateSyntaxError  # noqa: PLC0415
            from jinja2.sandbox import SandboxedEnvironment  # noqa: PLC0415

            try:
                SandboxedEnvironment().parse(text)
            except TemplateSyntaxError as error:
                raise ValueError(
                    f"not a valid Jinja2 template: {error.message} (line {error.lineno})"
                ) from None
        return text

    @model_validator(mode="after")
    def _one_moment(self) -> NotificationRule:
        if (self.when is None) == (self.outage_longer_than is None):
            raise ValueError("give exactly one of 'when' or 'outage_longer_than'")
        return self

    @property
    def moment(self) -> str:
        """What the rule waits for, as stored with each notification."""
        if self.outage_longer_than is not None:
            return f"outage_longer_than {self.outage_longer_than.total_seconds():g}s"
        return str(self.when)


def _rules(*moments: Moment, outage: timedelta | None = None) -> list[NotificationRule]:
    rules = [NotificationRule(when=moment) for moment in moments]
    if outage is not None:
        rules.append(NotificationRule(outage_longer_than=outage))
    return rules


# The runbook's Communication Plan: the team at once and at each rollback status, the
# incident channel with the rollback status, stakeholders told of the impact, users by
# e-mail/SMS for prolonged outages (and socially after 30 minutes). The team is also reminded
# of a report still unwritten when due (the runbook: a report within 24 hours).
DEFAULT_RULES: dict[str, list[NotificationRule]] = {
    "team": _rules(
        "detected", "rollback_started", "rollback_finished", "resolved", "report_reminder"
    ),
    "incident_channel": _rules("detected", "rollback_started", "rollback_finished", "resolved"),
    "stakeholders": _rules("detected", "resolved"),
    "customers": _rules(outage=timedelta(minutes=30)),
}


class Audience(Section):
    """A group told alike: channels, contacts by name, and contacts by role."""

    channels: list[str] = Field(default_factory=list, description="Names under channels:.")
    contacts: list[str] = Field(default_factory=list, description="Names under contacts:.")
    roles: list[str] = Field(
        default_factory=list,
        description="Every contact with one of these roles (lead_developer, devops, dba, "
        "product, customer_success, incident_commander, or your own).",
    )
    rules: list[NotificationRule] | None = Field(
        None,
        description="When it is told; default for team, incident_channel, stakeholders and "
        "customers: the runbook's Communication Plan (docs/notifications.md).",
    )

    @field_validator("roles")
    @classmethod
    def _plain_roles(cls, roles: list[str]) -> list[str]:
        return [role_name(role) for role in roles]


class NotificationSettings(Section):
    channels: dict[str, ChannelUrls] = Field(
        default_factory=dict,
        description="Name → Apprise URL (or a list): slack://..., mailtos://..., json://... "
        "`${VAR}` is read from the environment when sending. Never shown.",
    )
    audiences: dict[str, Audience] = Field(
        default_factory=dict,
        description="team, incident_channel, stakeholders, customers, or any name → who.",
    )
    email: ChannelUrl | None = Field(
        None,
        description="An Apprise mailto:// (or mailtos://) URL of the SMTP server and sender, "
        "used to reach a contact's `email` (its address is added as `to=`).",
    )
    sms: ChannelUrl | None = Field(
        None,
        description="An Apprise SMS URL without its recipient (twilio://SID:TOKEN@FROM), "
        "used to reach a contact's `phone` (added as the last path part).",
    )
    max_attempts: int = Field(8, ge=1, le=100, description="Tries per target before giving up.")
    retry_after: PositiveDuration = Field(
        timedelta(seconds=10),
        description="Wait before the first retry; doubled at each failure (with jitter), up "
        "to retry_at_most.",
    )
    retry_at_most: PositiveDuration = Field(
        timedelta(minutes=30), description="The longest wait between two tries."
    )
    timeout: PositiveDuration = Field(
        timedelta(seconds=10), description="How long one send may take before it failed."
    )
    url: HttpUrl | None = Field(
        None, description="Where people read more (the dashboard), given to templates as url."
    )

    def channel_urls(self, name: str) -> list[str]:
        """The URLs of a channel as written (`${VAR}` not yet replaced)."""
        return [url.get_secret_value() for url in self.channels[name]]

    def rules_of(self, audience: str) -> list[NotificationRule]:
        rules = self.audiences[audience].rules
        return rules if rules is not None else DEFAULT_RULES.get(audience, [])

    @model_validator(mode="after")
    def _audiences_name_channels_and_have_rules(self) -> NotificationSettings:
        for name, audience in self.audiences.items():
            unknown = [c for c in audience.channels if c not in self.channels]
            if unknown:
                known = ", ".join(self.channels) or "(none)"
                raise ValueError(
                    f"audiences.{name}.channels names {', '.join(map(repr, unknown))}, not "
                    f"under notifications.channels (known: {known})"
                )
            if audience.rules is None and name not in DEFAULT_RULES:
                raise ValueError(
                    f"audiences.{name}.rules: required for an audience not named "
                    f"{', '.join(DEFAULT_RULES)} (which have the runbook's defaults)"
                )
        return self


class ApprovalSettings(Section):
    escalate_after: PositiveDuration | None = Field(
        timedelta(minutes=10),
        description="A run waiting at its approval gate longer than this asks the next "
        "contact of `escalation`, then the next after as long again ... (null: never). "
        "services.<name>.escalate_after overrides it.",
    )
    escalation: list[str] = Field(
        default_factory=lambda: ["incident_commander", "lead_developer", "devops"],
        description="Who is asked, in order: roles or contact names (a role stands for each "
        "of its contacts, in the order of contacts:).",
    )
