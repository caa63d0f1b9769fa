"""The watch loop: each cycle takes a fresh snapshot per service and decides, in one sentence.

`run_cycle()` walks a ladder of early returns for every service — nothing deployed, a run in
progress, stopped by a person (`backout stop`), a flag-first run that ended, no metric source,
a trigger firing, a trigger holding, a release that has baked (see baking.py), healthy — and
returns what it decided ("backend 1.1.0: error rate 31.0% > 5.0%
for 1.0s, rolling back to 1.0.0 (run 3, incident 2)"). The sentence is logged, served by the
API and asserted in tests.

What a firing trigger leads to is its category's policy (docs/triggers.md): roll back, after
an approval, notify only, or flag first (flag_first.py; with every guarded flag already off, it
rolls back at once). A release a rollback restored that fails too is not rolled back from
again (restored.py); a reading that cannot judge is never acted on (inconclusive.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout import releases
from backout.controller.background import BackgroundRuns
from backout.controller.baking import GAP_INTERVALS, MIN_GAP, BakeProgress, BakeTracker
from backout.controller.cycle_facts import CycleFacts, read_cycle_facts
from backout.controller.flag_first import FlagFirstWatch, Unmitigated
from backout.controller.inconclusive import InconclusiveCounter, blind, raise_alert
from backout.controller.restored import ask_a_person, restored_recently
from backout.errors import BackoutError, FencedError
from backout.incidents import EventKind, add_event, open_incident, open_incident_for
from backout.metrics import (
    MetricSource,
    RuleVerdict,
    measure_baseline,
)
from backout.operations.flag_runs import (
    flags_still_on,
)
from backout.operations.own_metrics import ReadingOutcome, count_reading
from backout.operations.report import ReportReminder
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.releases import ReleaseStatus
from backout.runs import locks
from backout.runs.records import RunResult
from backout.runtime import Runtime
from backout.store import Release, Run
from backout.subjects import Subject
from backout.triggers import ArmedTriggers, Baseline, Reading, arm

log = logging.getLogger(__name__)


class Watcher:
    """Evaluates triggers, promotes baked releases, and starts rollbacks by policy."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        actor: str = "backout-watch",
        on_change: Callable[[str], None] | None = None,
        runner: BackgroundRuns | None = None,
        fence: Callable[[], None] | None = None,
    ) -> None:
        self.runtime = runtime
        # Raises FencedError when this controller may no longer act (it lost the watch lease):
        # asked before each service's turn and before each change the watch makes.
        self.fence = fence or (lambda: None)
        self.actor = actor
        self.on_change = on_change
        self.runner = runner or BackgroundRuns()  # where the rollbacks it starts go on
        self.last_decisions: dict[str, str] = {}
        self._armed: dict[str, tuple[int, ArmedTriggers]] = {}  # by service, with the release
        self._flag_first = FlagFirstWatch(runtime, actor, self.runner)
        self._bakes = BakeTracker()
        self._inconclusive = InconclusiveCounter(runtime.config.watch.inconclusive_alert_after)
        # A trigger that fired and left its release running (notify, or waiting for a person),
        # by service: the release, the incident, and what fired — until it is quiet again.
        self._fired: dict[str, tuple[int, int, Reading]] = {}
        self._reports = ReportReminder(runtime)  # unwritten reports, once a minute

    def run_cycle(self) -> list[str]:
        """One pass over every service; returns what was decided for each."""
        with self.runtime.store.session() as session:
            facts = read_cycle_facts(session, self.runtime.environment)
        decisions = []
        for name in self.runtime.config.services:
            self.fence()
            try:
                decision = self._cycle_service(name, facts)
            except FencedError:
                raise  # this controller may no longer act: the controller steps down
            except BackoutError as error:
                decision = f"{name}: cannot evaluate: {error.message}"
            if decision != self.last_decisions.get(name):
                log.info("%s", decision)
                if self.on_change is not None:
                    self.on_change(decision)
            self.last_decisions[name] = decision
            decisions.append(decision)
        self._reports.check()
        return decisions

    @property
    def results(self) -> list[RunResult]:
        """The results of the runs started so far that have ended, oldest first."""
        return self.runner.wait(timeout=0)

    def wait_for_runs(self, timeout: float | None = None) -> list[RunResult]:
        return self.runner.wait(timeout)

    def _cycle_service(self, name: str, facts: CycleFacts) -> str:  # noqa: PLR0911 - the ladder is the design
        live = facts.live.get(name)
        if live is None:
            return f"{name}: nothing deployed yet, not watching"
        active = facts.active_runs.get(name)
        if active is not None:
            self._armed.pop(name, None)  # a breach held before the run is no evidence
            self._bakes.forget(name)
            state = f"run {active.id} is {active.state}"
            return f"{name} {live.version}: {state}, triggers wait for it"
        stopped = facts.stopped.get(name)
        if stopped is not None:  # a stopped service is no failing release to roll back
            self._armed.pop(name, None)
            self._bakes.forget(name)
            return (
                f"{name} {live.version}: stopped by {stopped.actor}, not watching until "
                "it is deployed again"
            )
        unmitigated = None
        if self._flag_first.concerns(name):
            with self.runtime.store.session() as session:
                mitigated = self._flag_first.mitigated(session, name, live)
                if mitigated is not None:
                    return mitigated
                unmitigated = self._flag_first.unmitigated(session, name, live)
        baseline = facts.baseline(name)
        since = _watched_since(live, facts.last_run_end.get(name))
        if unmitigated is not None:
            return self._roll_back_unmitigated(name, live, unmitigated)
        armed = self._armed_for(name, live, baseline)
        if armed is None:
            return f"{name} {live.version}: no probe configured, triggers unarmed"
        reading = armed.read(since.timestamp() if since else None)
        snapshot = reading.snapshot
        bake = self._bake(name, live, armed.source) if live.status == ReleaseStatus.LIVE else None
        blind_readings = self._inconclusive.count(name, reading.verdicts)
        count_reading(name, _outcome(reading, blind_readings))
        if reading.firing:
            return self._fire(name, live, reading)
        if reading.holding:
            return f"{name} {live.version}: {reading.holding[0].sentence()}, holding"
        if blind_readings:  # never promoted on a reading that could not judge it
            return self._blind(name, live, reading, blind_readings)
        self._say_back_under(name, live, reading)
        if bake is None:
            return f"{name} {live.version}: healthy ({snapshot.summary()})"
        if bake.baked:
            return self._promote(name, live, bake)
        return f"{name} {live.version}: healthy ({snapshot.summary()}), {bake.sentence()}"

    def _armed_for(self, name: str, live: Release, baseline: Baseline) -> ArmedTriggers | None:
        """The triggers armed for the live release: a new release starts with no held breach,
        and so does a new last known good (its baseline is another)."""
        known = self._armed.get(name)
        if known is None or known[0] != live.id or known[1].baseline != baseline:
            armed = arm(self.runtime, name, baseline, live.version)
            if armed is None:
                return None
            known = self._armed[name] = (live.id, armed)
        return known[1]

    def _bake(self, name: str, live: Release, source: MetricSource) -> BakeProgress:
        """Count this cycle towards the live release's bake (or restart it after a gap)."""
        config = self.runtime.config
        service = config.service(name)
        intervals = [config.watch.interval]
        if source.sample_interval is not None:
            intervals.append(source.sample_interval)
        return self._bakes.watch(
            name,
            live.id,
            source,
            version=live.version,
            now=self.runtime.clock.now(),
            max_gap=max(GAP_INTERVALS * max(intervals), MIN_GAP),
            bake_time=service.bake_time,
        )

    def _promote(self, name: str, live: Release, bake: BakeProgress) -> str:
        self.fence()
        watched = bake.samples  # the baseline is what was watched, nothing from before
        env = self.runtime.environment
        with self.runtime.store.session() as session:
            release = releases.find(session, env, name, live.version)
            # The cycle's facts were read at its start: a run may have taken the service since
            # (a rollback's plan marks this release rolled back), and its verdict stands.
            taken = locks.active_run(session, env, Subject.service(name))
            if taken is not None or release.status != ReleaseStatus.LIVE:
                self._bakes.forget(name)
                held = f"run {taken.id} holds it" if taken else f"it is {release.status}"
                return f"{name} {live.version}: baked, but not marked good: {held}"
            release.baseline = measure_baseline(watched)
            releases.mark(
                release,
                ReleaseStatus.GOOD,
                reason=f"watched {bake.bake.elapsed(bake.now).total_seconds():.0f}s "
                f"({watched.samples} samples) with no trigger firing",
                at=self.runtime.clock.now(),
            )
        self._bakes.forget(name)
        seconds = bake.bake_time.total_seconds()
        return (
            f"{name} {live.version}: baked {seconds:g}s with no trigger, "
            f"marked good (baseline {watched.summary()})"
        )

    def _blind(self, name: str, live: Release, reading: Reading, readings: int) -> str:
        """An inconclusive reading: said, never acted on; alerted once after the limit."""
        reasons = "; ".join(dict.fromkeys(v.sentence() for v in blind(reading.verdicts)))
        decision = f"{name} {live.version}: inconclusive, no rollback on that ({reasons})"
        if not self._inconclusive.due(name):
            return decision
        self.fence()
        with self.runtime.store.session() as session:
            env = self.runtime.environment
            raise_alert(session, env, name, readings, reading.verdicts, actor=self.actor)
        self._inconclusive.alerted(name)
        return f"{decision}; alerted after {readings} readings in a row"

    def _say_back_under(self, name: str, live: Release, reading: Reading) -> None:
        """Once, on the open incident of a trigger that fired and left the release running:
        the trigger is quiet again (a person still decides what the incident becomes)."""
        fired = self._fired.pop(name, None)
        if fired is None or fired[0] != live.id:
            return
        _, incident_id, when_fired = fired
        rules = ", ".join(v.rule.name for v in when_fired.firing)
        quiet = "; ".join(v.sentence() for v in reading.verdicts if not v.inconclusive)
        message = f"{name} {live.version}: {rules} quiet again ({quiet})"
        evidence = [v.evidence() for v in reading.verdicts]
        self.fence()
        with self.runtime.store.session() as session:
            add_event(
                session,
                incident_id,
                EventKind.TRIGGER_RECOVERED,
                message,
                actor=self.actor,
                evidence=evidence,
            )

    def _fire(self, name: str, live: Release, reading: Reading) -> str:
        self.fence()
        runtime = self.runtime
        firing = reading.firing
        verdict = firing[0]  # the incident's trigger; the others are named in its title
        symptoms = "; ".join(v.sentence() for v in firing)
        what = f"{name} {live.version}: {symptoms}"
        service = runtime.config.service(name)
        policy = service.policy_for(verdict.category)
        evidence = [v.evidence() for v in reading.verdicts]
        if live.status == ReleaseStatus.SUSPECT:
            return f"{what}; it is suspect since a rollback restored it: waiting for a person"
        with runtime.store.session() as session:
            now = runtime.clock.now()
            restored = restored_recently(session, name, live, within=service.monitor, now=now)
            if restored is not None:
                asked = ask_a_person(
                    session, restored, live, symptoms, evidence, actor=self.actor, at=now
                )
                return f"{what}; no rollback: {asked}"
            incident = open_incident_for(session, runtime.environment, name)
            if incident is not None and incident.release_id == live.id:
                if policy == "notify" or _has_run(session, incident.id):
                    self._fired[name] = (live.id, incident.id, reading)
                    return f"{what}, incident {incident.id} is open; waiting for a person"
                # Opened, but its rollback never started (a crash in between, or a refusal):
                # try again rather than wait forever.
                return self._respond(name, verdict, symptoms, what, incident.id, policy=policy)
            incident = open_incident(
                session,
                environment=runtime.environment,
                service=name,
                title=what,
                trigger=verdict.rule.name,
                release_id=live.id,
                rto_s=runtime.config.rto_for(name).total_seconds(),
                detected_at=runtime.clock.now(),
                impact_started_at=live.live_at,
                actor=self.actor,
                category=verdict.category,
                evidence=evidence,
            )
            # Joined an earlier release's incident left open (one per subject): it follows the
            # live release now, so the next cycle finds it instead of joining it again.
            incident.release_id = live.id
            incident_id = incident.id
            release = releases.find(session, runtime.environment, name, live.version)
            releases.mark(
                release, ReleaseStatus.BAD, reason=verdict.sentence(), at=runtime.clock.now()
            )
        if policy == "notify":
            self._fired[name] = (live.id, incident_id, reading)
            return f"{what}, incident {incident_id} opened; policy is notify, not rolling back"
        return self._respond(name, verdict, symptoms, what, incident_id, policy=policy)

    def _respond(
        self,
        name: str,
        verdict: RuleVerdict,
        symptoms: str,
        what: str,
        incident_id: int,
        *,
        policy: str,
    ) -> str:
        """The policy's answer to a firing trigger: flag first, or the rollback."""
        reason = f"trigger {verdict.rule.name}: {symptoms}"
        trigger = verdict.rule.name
        if policy != "flag_first":
            gate = policy == "approve"
            return self._roll_back(name, reason, trigger, what, incident_id, approval_gate=gate)
        guarded = ", ".join(self.runtime.config.service(name).guarded_by)
        try:
            still_on = flags_still_on(self.runtime, name)
            run_id = (
                self._flag_first.start(name, verdict, reason, incident_id) if still_on else None
            )
        except BackoutError as error:
            impossible = f"{what}; flag first impossible ({error.message})"
            return self._roll_back(name, reason, trigger, impossible, incident_id)
        if run_id is None:  # every flag is off already: flag first has nothing to try
            tried = f"{what}; flag first: {guarded} already off"
            return self._roll_back(name, reason, trigger, tried, incident_id)
        turning = ", ".join(still_on)
        return f"{what}; flag first: turning off {turning} (run {run_id}, incident {incident_id})"

    def _roll_back_unmitigated(self, name: str, live: Release, left: Unmitigated) -> str:
        run = f"run {left.flag_run_id}"
        what = f"{name} {live.version}: flag first did not mitigate ({run}: {left.why})"
        reason = f"flag first did not mitigate: {left.why}"
        return self._roll_back(name, reason, left.trigger, what, left.incident_id)

    def _roll_back(
        self,
        name: str,
        reason: str,
        trigger: str | None,
        what: str,
        incident_id: int,
        *,
        approval_gate: bool = False,
    ) -> str:
        runtime = self.runtime
        request = RollbackRequest(
            service=name,
            reason=reason,
            trigger=trigger,
            approval_gate=approval_gate,
            incident_id=incident_id,
        )
        try:
            run = start_rollback(runtime, request, actor=self.actor)
        except BackoutError as error:
            return f"{what}, incident {incident_id} opened, but no rollback: {error.message}"
        run.execute_in_background(self.runner)
        gate = " after approval" if request.approval_gate else ""
        return f"{what}, rolling back{gate} (run {run.run_id}, incident {incident_id})"


def _watched_since(live: Release, last_run_end: datetime | None) -> datetime | None:
    """What the triggers judge: the live release since it went live *and* since the last run of
    the service ended — so a rolled-back release's errors, still in the probe's window, are not
    held against the version that replaced it."""
    moments = [m for m in (live.live_at, last_run_end) if m is not None]
    return max(moments) if moments else None


def _outcome(reading: Reading, blind_readings: int) -> ReadingOutcome:
    """How /metrics counts a reading (backout_trigger_readings_total)."""
    if reading.firing:
        return "fired"
    if reading.holding:
        return "breached"
    return "inconclusive" if blind_readings else "quiet"


def _has_run(session: Session, incident_id: int) -> bool:
    return session.scalars(select(Run.id).where(Run.incident_id == incident_id)).first() is not None
