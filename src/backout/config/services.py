"""A service's section of backout.yaml: driver, router, checks, metric source, triggers,
policy, timings, dependencies."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    Field,
    model_validator,
)

from backout.categories import IncidentCategory
from backout.config.sections import PluginSpec, Section
from backout.durations import Duration, LoopInterval, PositiveDuration, at_least
from backout.http_url import HttpUrl

Policy = Literal["rollback", "approve", "notify", "flag_first"]

DEFAULT_POLICIES: dict[IncidentCategory, Policy] = {IncidentCategory.DATA: "approve"}
"""Categories whose policy is not the service's `policy` unless `policies:` says otherwise:
data is never rolled back without a person (the incident commander approves)."""


class TriggerRule(Section):
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
        timedelta(seconds=30),
        alias="for",
        description="How long the condition must hold (unless `failures` counts instead).",
    )
    failures: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Fire after this many consecutive failing measurements, instead of `for`.",
    )
    min_samples: int = Field(
        1,
        ge=1,
        le=1_000_000,
        description="Fewer samples than this (too little traffic) make a measurement "
        "inconclusive: shown and counted, never a rollback by itself.",
    )
    interval: PositiveDuration | None = Field(
        None,
        description="How often the rule takes a measurement; default: every watch cycle.",
    )
    category: IncidentCategory | None = Field(
        None,
        description="What the incident is about when the rule fires (errors, performance, "
        "business, data, security); default: what the source says of the metric.",
    )

    @model_validator(mode="after")
    def _exactly_one_threshold(self) -> TriggerRule:
        if (self.above is None) == (self.above_baseline is None):
            raise ValueError("give exactly one of 'above' or 'above_baseline'")
        return self

    @model_validator(mode="after")
    def _time_or_count(self) -> TriggerRule:
        if self.failures is not None and "hold" in self.model_fields_set:
            raise ValueError("give 'for' (a time) or 'failures' (a count), not both")
        return self


class ProbeSettings(Section):
    """The built-in synthetic probe: steady requests whose outcomes feed the triggers.

    Here rather than in metrics/probe.py because a service's `probe:` section (shorthand for
    `metrics: {type: probe, ...}`) is validated with the rest of the config.
    """

    url: HttpUrl = Field(description="The URL to request, usually a core endpoint.")
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


class StepSettings(Section):
    timeout: PositiveDuration = Field(
        timedelta(minutes=10), description="Default timeout of a step."
    )
    retries: int = Field(2, ge=0, le=10, description="Retries of a step after a retryable error.")


class ServiceConfig(Section):
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
    metrics: PluginSpec | list[PluginSpec] | None = Field(
        None,
        description="Where the triggers' metrics come from: one source or a list, each picked "
        "by `type:` (probe, prometheus, flow, sql, fake); a metric name belongs to one source. "
        "None (and no probe): the triggers are unarmed.",
    )
    triggers: list[TriggerRule] = Field(default_factory=list)
    policy: Policy = Field(
        "approve",
        description="When a trigger fires: roll back at once, roll back after an approval, "
        "only open the incident, or turn the guarded_by flags off first and roll back only "
        "if the trigger still fires.",
    )
    policies: dict[IncidentCategory, Policy] = Field(
        default_factory=dict,
        description="The policy for incidents of a category, where it is not `policy` "
        "(default: data → approve).",
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

    escalate_after: PositiveDuration | None = Field(
        None,
        description="How long a run of this service may wait at its approval gate before the "
        "next contact is asked (default: approvals.escalate_after).",
    )

    def metric_sources(self) -> list[tuple[PluginSpec, tuple[str | int, ...]]]:
        """Each metric source's section and where it is under the service (`probe`, the
        shorthand, first; then `metrics`, or `metrics.N` in a list)."""
        sources: list[tuple[PluginSpec, tuple[str | int, ...]]] = []
        if self.probe is not None:
            sources.append((PluginSpec(type="probe", **self.probe.model_dump()), ("probe",)))
        if isinstance(self.metrics, PluginSpec):
            sources.append((self.metrics, ("metrics",)))
        elif self.metrics is not None:
            sources.extend((spec, ("metrics", i)) for i, spec in enumerate(self.metrics))
        return sources

    def policy_for(self, category: IncidentCategory) -> Policy:
        """What backout does when an incident of `category` opens."""
        return self.policies.get(category, DEFAULT_POLICIES.get(category, self.policy))

    @model_validator(mode="after")
    def _restore_ends_at_full_traffic(self) -> ServiceConfig:
        stages = self.traffic_restore
        rising = all(a < b for a, b in itertools.pairwise(stages))
        if not stages or stages[-1] != 100 or stages[0] < 1 or not rising:
            raise ValueError("traffic_restore must rise and end at 100, e.g. [10, 50, 100]")
        return self
