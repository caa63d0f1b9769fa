"""The API's request bodies and response shapes, as the OpenAPI document shows them.

The read shapes mirror the dicts of `backout.operations.views`; a test keeps them in step.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from backout.incidents.lifecycle import IncidentStatus
from backout.limits import MAX_NOTE_CHARS, MAX_REASON_CHARS, MAX_VERSION_CHARS


class ErrorOut(BaseModel):
    error: str = Field(description="What went wrong, in one sentence.")
    hint: str | None = Field(None, description="What to do about it, when backout knows.")
    exit_code: int = Field(description="The exit code the CLI returns for the same error.")


class HealthOut(BaseModel):
    status: str = Field(description="Always 'ok' while the server answers.")


class ServiceStatusOut(BaseModel):
    service: str
    tier: str
    live_version: str | None
    live_status: str | None
    running: str = Field(description="What the driver sees: running, stopped or failed.")
    pid: int | None = Field(None, description="The service's process, for a local driver.")
    port: int | None = Field(None, description="The port it listens on, when configured.")
    url: str | None = Field(None, description="Where it answers, when the driver knows.")
    started_at: str | None = Field(None, description="When its process started (ISO 8601).")
    detail: str | None
    last_known_good: str | None
    open_incidents: list[int]
    active_runs: list[int]


class ReleaseOut(BaseModel):
    id: int = Field(description="The release's id: `?before=` of the next page.")
    service: str
    version: str
    ref: str | None
    schema_revision: str | None = Field(
        None, description="The database schema revision the release expects, if recorded."
    )
    status: str
    reason: str | None
    created_by: str
    created_at: str | None
    live_at: str | None
    good_at: str | None
    baseline: dict[str, Any] | None
    deployments: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Each time it was put live, oldest first, and what ended it (a rollback: "
        "its run, incident and reason; or the next deploy).",
    )


class StepOut(BaseModel):
    position: int
    kind: str
    title: str
    subject: str = Field(description="What the step acts on: `service:backend`, `database:main`.")
    state: str
    attempts: int
    message: str | None
    output: dict[str, Any] | None = Field(
        description="What the step recorded: a backup's location, a report's path, counts."
    )
    started_at: str | None
    finished_at: str | None


class SubjectOut(BaseModel):
    kind: str = Field(description="service, database, flag, stack or dns_record")
    name: str
    from_version: str | None
    to_version: str | None


class RunOut(BaseModel):
    id: int
    kind: str
    service: str = Field(description="The run's first subject: a service's name, else kind:name.")
    subjects: list[SubjectOut] = Field(description="Every subject the run targets, in order.")
    from_version: str | None
    to_version: str | None
    state: str
    reason: str
    trigger: str | None
    incident_id: int | None
    actor: str = Field(description="Who started the run; `token:<name>` when started over the API.")
    error: str | None
    created_at: str | None
    finished_at: str | None
    rpo_s: float | None = Field(None, description="A restore's achieved data-loss window.")
    restore_s: float | None = Field(None, description="How long a restore took.")


class RunDetailOut(RunOut):
    steps: list[StepOut]


class IncidentOut(BaseModel):
    id: int
    service: str
    title: str
    severity: str
    status: str
    category: str = Field("errors", description="errors, performance, business, data or security.")
    trigger: str | None
    detected_at: str | None
    recovered_at: str | None
    resolved_at: str | None
    time_to_detect_s: float | None
    time_to_recover_s: float | None
    rto_s: float
    rpo_s: float | None = None
    rpo_objective_s: float | None = None
    restore_s: float | None = None


class TimelineEventOut(BaseModel):
    at: str | None
    kind: str
    actor: str
    text: str = Field(description="What happened, in one or a few sentences.")
    message: str = Field(description="The same as `text` (its earlier name).")
    run_id: int | None
    evidence: list[dict[str, Any]] | None = Field(
        None,
        description="The measurements behind a trigger's decision: per rule its value, "
        "threshold, samples, window, how it was measured, and its state.",
    )


class ObjectiveOut(BaseModel):
    name: str = Field(
        description="time_to_detect, time_to_decide (where a gated step was approved), "
        "time_to_recover, time_to_resolve, data_loss_window (where a database was restored)"
    )
    basis: str = Field(description="What the objective is: RTO, RTO + monitoring window, RPO.")
    objective_s: float | None
    measured_s: float | None = Field(description="None until the moment is reached.")
    met: bool | None = Field(
        description="None: not yet known; false as soon as the objective has run out."
    )


class ChecklistItemOut(BaseModel):
    id: str = Field(description="What `POST .../checklist/{item}` takes.")
    phase: str = Field(description="pre, during, post or follow_up")
    title: str
    text: str
    checked_by_backout: bool = Field(description="Whether backout checks it when it happens.")
    checked_when: str | None = Field(description="What backout checks it by, if it does.")
    done: bool
    by: str | None = Field(description="Who checked or confirmed it.")
    at: str | None
    how: str | None = Field(description="`confirmed` (by a person), or what backout saw.")
    asked: str | None = Field(
        None,
        description="When a person is asked to confirm it (before the rollback acts, once the "
        "service is recovered, after the incident); null for an item backout checks.",
    )


class IncidentDetailOut(IncidentOut):
    timeline: list[TimelineEventOut]
    objectives: list[ObjectiveOut]
    checklist: list[ChecklistItemOut]


class ChartMarkOut(BaseModel):
    label: str = Field(description="detected | rollback started | recovered | resolved")
    at_s: float = Field(description="Seconds from the detection.")


class ChartSeriesOut(BaseModel):
    metric: str
    label: str
    unit: str = Field(description="fraction | seconds | per_second | count")
    points: list[tuple[float, float]] = Field(
        description="(seconds from the detection, value), oldest first; one per second at most."
    )
    thresholds: list[float] = Field(
        description="The thresholds the metric's triggers had when the incident was detected."
    )


class IncidentChartsOut(BaseModel):
    incident_id: int
    service: str
    detected_at: str
    start_s: float
    end_s: float
    marks: list[ChartMarkOut]
    series: list[ChartSeriesOut] = Field(
        description="Empty when nothing was recorded for the service in the window."
    )


class NoteIn(BaseModel):
    text: str = Field(
        min_length=1,
        max_length=MAX_NOTE_CHARS,
        pattern=r"\S",
        description="The note; on the incident's timeline.",
    )
    public: bool = Field(False, description="A public update: shown on the status page.")


class IncidentStatusIn(BaseModel):
    status: IncidentStatus = Field(description="The status the incident moves to.")
    message: str | None = Field(
        None, min_length=1, max_length=MAX_NOTE_CHARS, description="Why; on the timeline."
    )


class WatchOut(BaseModel):
    watching: bool = Field(description="Whether the watch loop runs inside this server.")
    decisions: dict[str, str] = Field(
        description="The last decision of the watch loop per service, as one sentence."
    )


class RollbackIn(BaseModel):
    to_version: str | None = Field(
        None,
        max_length=MAX_VERSION_CHARS,
        description="Target version (default: last known good).",
    )
    reason: str = Field(
        "manual rollback",
        min_length=1,
        max_length=MAX_REASON_CHARS,
        description="Why; goes on the incident timeline.",
    )
    dry_run: bool = Field(False, description="Answer the plan's steps; change nothing.")
    force: bool = Field(
        False,
        description="Roll back even to a release that is bad, rolled back or failed, or to the "
        "live one (otherwise 409).",
    )


class PlannedStepOut(BaseModel):
    kind: str
    title: str
    params: dict[str, Any]


class PlanOut(BaseModel):
    service: str
    from_version: str | None
    to_version: str
    steps: list[PlannedStepOut]
    description: list[str] = Field(description="The steps as numbered lines, as the CLI prints.")


class RunAcceptedOut(BaseModel):
    run_id: int
    incident_id: int | None
    state: str = Field(description="The run's state when the answer was sent.")


class ApproveIn(BaseModel):
    confirm: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=20,
        description="Checklist items the approver confirms with the approval, as the gate "
        "asks (e.g. communication_prepared); recorded with who approved.",
    )


class AbortIn(BaseModel):
    reason: str = Field(
        min_length=1,
        max_length=MAX_REASON_CHARS,
        description="Why; goes on the run and the incident timeline.",
    )


_ERROR_MEANINGS = {
    401: "No token, or an unknown or revoked one.",
    403: "The token's role may not do this.",
    404: "An unknown service, version, run, incident or flag.",
    409: "Refused: the service is locked by another run, or the run is not in a state for this.",
    413: "The request body is over the limit (docs/api.md).",
    422: "The request is malformed, or a field is out of its bounds (the message names it).",
    503: "The state store or the flag provider cannot be reached; retry.",
}
# Every route that needs a token may answer these, whatever it does.
TOKEN_ERRORS = (401, 403, 422, 503)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each in the one error shape."""
    return {
        status: {"model": ErrorOut, "description": _ERROR_MEANINGS[status]}
        for status in sorted(statuses)
    }
