"""The `alerts:` section: how backout reads the alerts an Alertmanager (or another sender)
posts to `backout serve`'s webhook receiver."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator

from backout.categories import IncidentCategory
from backout.config.sections import Section
from backout.durations import PositiveDuration

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")  # Prometheus's label names
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class AlertSettings(Section):
    service_label: str = Field(
        "service", description="The alert label that names the backout service it is about."
    )
    category_label: str = Field(
        "backout_category",
        description="The alert label that names the incident's category (errors, performance, "
        "business, data, security); an alert without it is of `default_category`.",
    )
    default_category: IncidentCategory = Field(
        IncidentCategory.ERRORS, description="The category of an alert without the label."
    )
    hmac_secret_env: str | None = Field(
        None,
        description="The environment variable holding the shared secret of signed deliveries "
        "(header Backout-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>). "
        "Unset: only bearer tokens (operator role or above) are accepted.",
    )
    signature_tolerance: PositiveDuration = Field(
        timedelta(minutes=5),
        description="How far a signed delivery's timestamp may be from the server's clock; "
        "a signature is accepted once within it.",
    )

    @field_validator("service_label", "category_label")
    @classmethod
    def _label_name(cls, name: str) -> str:
        if not _LABEL_NAME.fullmatch(name):
            raise ValueError(f"expected a Prometheus label name (e.g. service), got {name!r}")
        return name

    @field_validator("hmac_secret_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not _ENV_NAME.fullmatch(name):
            raise ValueError(
                f"expected an environment variable's name (e.g. BACKOUT_ALERT_SECRET), got {name!r}"
            )
        return name
