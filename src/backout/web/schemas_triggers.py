"""The shapes of the outside triggers' routes: Alertmanager's webhook body (version 4), the
security report, and what backout answers about each."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from backout.limits import MAX_VERSION_CHARS
from backout.operations.security import ADVISORY_ID, MAX_AFFECTED

MAX_ALERTS = 100  # alerts in one delivery: set Alertmanager's `max_alerts` to it
MAX_LABELS = 64  # labels (and annotations) of one alert
MAX_LABEL_CHARS = 1_024  # a label's or an annotation's name or value
MAX_TEXT_CHARS = 2_048  # groupKey, URLs, times

_Text = Annotated[str, StringConstraints(max_length=MAX_LABEL_CHARS)]
Labels = Annotated[dict[_Text, _Text], Field(max_length=MAX_LABELS)]


class AlertIn(BaseModel):
    """One alert, as Alertmanager sends it (unknown keys are ignored)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: Labels = Field(
        default_factory=dict,
        description="The alert's labels: `service` names the backout service, "
        "`backout_category` the incident's category (alerts.service_label / "
        "alerts.category_label).",
    )
    annotations: Labels = Field(
        default_factory=dict,
        description="`summary` (or `description`) goes in the incident's title.",
    )
    # The sender's own (camelCase) names: the body is Alertmanager's, not ours.
    startsAt: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    endsAt: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    generatorURL: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    fingerprint: str | None = Field(None, max_length=MAX_TEXT_CHARS)


class AlertmanagerIn(BaseModel):
    """Alertmanager's webhook body, version 4 (https://prometheus.io/docs/alerting/latest/
    configuration/#webhook_config)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"] = Field(description="The webhook format's version: 4.")
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    groupKey: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    truncatedAlerts: int = Field(0, ge=0)
    alerts: list[AlertIn] = Field(
        max_length=MAX_ALERTS,
        description=f"At most {MAX_ALERTS} (Alertmanager's `max_alerts: {MAX_ALERTS}`).",
    )


class AlertOutcomeOut(BaseModel):
    alert: str = Field(description="The alert's `alertname`.")
    service: str | None = Field(description="The service its label names, if any.")
    action: str = Field(
        description="rolling_back, awaiting_approval, flag_first, notified, joined, "
        "no_rollback, nothing_deployed (a firing alert); recorded, no_incident (a resolved "
        "one); ignored (no configured service: recorded in the audit log)."
    )
    message: str = Field(description="What backout did, in one sentence.")
    incident_id: int | None
    run_id: int | None


class AlertsAcceptedOut(BaseModel):
    received: int = Field(description="How many alerts the delivery held.")
    outcomes: list[AlertOutcomeOut]


class SecurityIn(BaseModel):
    advisory: str = Field(
        pattern=f"^{ADVISORY_ID.pattern}$",
        description="The advisory's id: CVE-2026-1234, GHSA-xxxx-xxxx-xxxx.",
    )
    affected: list[Annotated[str, StringConstraints(max_length=MAX_VERSION_CHARS)]] | None = Field(
        None,
        max_length=MAX_AFFECTED,
        description="The affected versions (default: the live release).",
    )


class TriggerOutcomeOut(BaseModel):
    action: str = Field(
        description="rolling_back, awaiting_approval, flag_first, notified, joined, "
        "no_rollback (the policy's rollback could not start: `error` says why), "
        "not_affected (the live release is not affected: recorded, nothing rolled back)."
    )
    message: str = Field(description="What backout did, in one sentence.")
    incident_id: int | None
    run_id: int | None = Field(description="The run started (poll GET /runs/{run_id}).")
    error: str | None = Field(None, description="Why the policy's rollback could not start.")
    exit_code: int = Field(description="The exit code `backout trigger` returns for the same.")
