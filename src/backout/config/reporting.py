"""The `incidents:` and `status_page:` sections: when a post-incident report is due, and what
the public status page of `backout serve` shows."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from backout.config.sections import Section
from backout.durations import PositiveDuration
from backout.http_url import HttpUrl


class IncidentSettings(Section):
    report_due_after: PositiveDuration = Field(
        timedelta(hours=24),
        description="How long after an incident is resolved its report (root cause at least) "
        "must be written; past it, one reminder goes on the timeline (report_reminder).",
    )


class StatusPageSettings(Section):
    enabled: bool = Field(
        True,
        description="Serve the public status page (/status, /status/summary.json, "
        "/api/v2/summary.json) without a token. It shows only the services listed here, their "
        "state, and what was marked public.",
    )
    title: str = Field(
        "", max_length=200, description="The page's title (default: '<project> status')."
    )
    services: list[str] | None = Field(
        None,
        description="The services shown, as components, in this order (default: every service).",
    )
    recent_days: int = Field(
        7, ge=0, le=366, description="How many days a resolved incident stays on the page."
    )
    url: HttpUrl | None = Field(
        None,
        max_length=500,
        description="Where people read the page (its public address), for the JSON's "
        "`page.url` and incident links; default: the address the request came to.",
    )
