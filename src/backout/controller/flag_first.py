"""Policy flag_first, as the watch loop follows it: start the flag run, say once how it ended,
and find the incident whose flag run failed and still needs its rollback.

A firing trigger opens the incident as always; then — instead of the rollback — a feature-flag
run turns the service's guarded_by flags off and holds them off with the triggers armed. Quiet
to the end: the incident is recovered and resolved, no redeploy. A trigger firing in the hold
(or any failure of that run) fails it, and the watch loop's next cycle starts the rollback
inside the same incident — also in a watcher started after a crash, since that is read from
the store.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout.config import TriggerRule
from backout.controller.background import BackgroundRuns
from backout.incidents import open_incident_for
from backout.metrics import MetricCatalogue, RuleVerdict, back_under
from backout.operations.flag_runs import failed_step_message, flag_first_runs, start_flag_first
from backout.runs.records import TERMINAL, RunState
from backout.runtime import Runtime
from backout.store import Release, Run


@dataclass(frozen=True)
class _Started:
    """A flag-first run this watcher started, kept to say once how it ended."""

    service: str
    flags: list[str]
    rule: TriggerRule
    incident_id: int


@dataclass(frozen=True)
class Unmitigated:
    """An open incident whose flag-first run failed and that has no rollback yet."""

    incident_id: int
    trigger: str | None
    flag_run_id: int
    why: str


class FlagFirstWatch:
    def __init__(self, runtime: Runtime, actor: str, runner: BackgroundRuns) -> None:
        self.runtime = runtime
        self.actor = actor
        self.runner = runner
        self._started: dict[int, _Started] = {}  # by run id, until its end is said

    def start(self, name: str, verdict: RuleVerdict, reason: str, incident_id: int) -> int:
        """Start flag first for `name` in the background; its end is said by a later cycle."""
        run = start_flag_first(
            self.runtime,
            name,
            actor=self.actor,
            reason=reason,
            trigger=verdict.rule.name,
            incident_id=incident_id,
        )
        flags = list(self.runtime.config.service(name).guarded_by)
        self._started[run.run_id] = _Started(name, flags, verdict.rule, incident_id)
        run.execute_in_background(self.runner)
        return run.run_id

    def concerns(self, name: str) -> bool:
        """Whether flag first has something to say of `name` this cycle (a store read)."""
        started_here = any(started.service == name for started in self._started.values())
        return started_here or self.runtime.config.service(name).policy == "flag_first"

    def mitigated(self, session: Session, name: str, live: Release) -> str | None:
        """Once, for a flag-first run this watcher started that has ended well: say so."""
        for run_id, started in list(self._started.items()):
            run = session.get(Run, run_id)
            if started.service != name or run is None or run.state not in TERMINAL:
                continue
            del self._started[run_id]
            if run.state == RunState.SUCCEEDED:
                return (
                    f"{name} {live.version}: {self._back_under(name, started.rule)} with "
                    f"{', '.join(started.flags)} off: mitigated by the flag, no redeploy "
                    f"(run {run_id}, incident {started.incident_id})"
                )
        return None

    def unmitigated(self, session: Session, name: str, live: Release) -> Unmitigated | None:
        """The live release's open incident, if its flag-first run failed and nothing followed."""
        if self.runtime.config.service(name).policy != "flag_first":
            return None
        incident = open_incident_for(session, self.runtime.environment, name)
        if incident is None or incident.release_id != live.id:
            return None
        runs = flag_first_runs(session, incident)
        if not runs or runs[-1].state != RunState.FAILED or _has_rollback(session, incident.id):
            return None
        why = failed_step_message(session, runs[-1].id)
        return Unmitigated(incident.id, incident.trigger, runs[-1].id, why)

    def _back_under(self, name: str, rule: TriggerRule) -> str:
        source = self.runtime.metrics(name)
        return back_under(rule, source.provides if source else MetricCatalogue({}))


def _has_rollback(session: Session, incident_id: int) -> bool:
    query = select(Run.id).where(Run.incident_id == incident_id, Run.kind == "application")
    return session.scalars(query).first() is not None
