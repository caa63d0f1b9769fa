"""The shapes of the report's and the status page's routes: the written sections of a report,
and Statuspage's `summary.json` (its documented fields; clients of Statuspage read it)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from backout.limits import MAX_ACTION_ITEM_CHARS, MAX_ACTION_ITEMS, MAX_REPORT_SECTION_CHARS

_ActionItem = Annotated[str, StringConstraints(max_length=MAX_ACTION_ITEM_CHARS)]


class ReportEditIn(BaseModel):
    """The sections to write; a section left out stays as it was."""

    root_cause: str | None = Field(
        None, max_length=MAX_REPORT_SECTION_CHARS, description="Why it happened."
    )
    lessons: str | None = Field(
        None, max_length=MAX_REPORT_SECTION_CHARS, description="Lessons learned."
    )
    action_items: list[_ActionItem] | None = Field(
        None,
        max_length=MAX_ACTION_ITEMS,
        description="The action items; when given, they replace the stored list.",
    )

    @model_validator(mode="after")
    def _something_to_write(self) -> ReportEditIn:
        if self.root_cause is None and self.lessons is None and self.action_items is None:
            raise ValueError("give root_cause, lessons or action_items")
        return self


class ReportSectionsOut(BaseModel):
    root_cause: str | None
    lessons: str | None
    action_items: list[str]
    edited_by: str | None = Field(description="Who last edited them (token:NAME, or a person).")
    edited_at: str | None
    reminded_at: str | None = Field(
        description="When the reminder that the report was overdue went out, if it did."
    )


ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage"]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]


class PageOut(BaseModel):
    id: str
    name: str
    url: str
    time_zone: str
    updated_at: str


class PageStatusOut(BaseModel):
    indicator: Literal["none", "minor", "major", "critical"]
    description: str


class ComponentOut(BaseModel):
    id: str = Field(description="The service's name.")
    page_id: str
    name: str
    status: ComponentStatus
    created_at: str
    updated_at: str
    position: int
    description: str | None
    showcase: bool
    group_id: str | None
    group: bool
    only_show_if_degraded: bool


class IncidentUpdateOut(BaseModel):
    id: str
    incident_id: str
    status: IncidentStatus
    body: str = Field(description="A public update's own text, or a status change's sentence.")
    created_at: str
    updated_at: str
    display_at: str


class PublicIncidentOut(BaseModel):
    id: str
    page_id: str
    name: str = Field(description="The service and the kind of trouble (never internal detail).")
    status: IncidentStatus
    impact: Literal["none", "minor", "major", "critical"]
    created_at: str
    updated_at: str
    started_at: str
    monitoring_at: str | None
    resolved_at: str | None
    shortlink: str
    incident_updates: list[IncidentUpdateOut] = Field(description="Newest first.")
    components: list[ComponentOut]


class SummaryOut(BaseModel):
    """Statuspage's summary.json: the page, its overall status, components, incidents (open and
    recently resolved) and scheduled maintenances (none: backout schedules none)."""

    page: PageOut
    status: PageStatusOut
    components: list[ComponentOut]
    incidents: list[PublicIncidentOut]
    scheduled_maintenances: list[dict[str, str]]
