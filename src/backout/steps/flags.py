"""The steps of the feature-flag plans: set a flag's exposure, hold it with the triggers armed,
and mark it for removal.

Every change goes through operations.flags, so it is recorded with who, why and the run, and
lands on the open incident of each service the flag guards; a step adds it to its own run's
incident when that one is not among them (a flag that guards no service).

Each step's observe() looks at the flag as the provider holds it now, so a resumed run never
makes a change twice. A hold that fired and cut the ramp to 0 % is noted in its output; every
later step of the run skips itself on seeing it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from backout.actions import flag_changes
from backout.actions.flag_changes import FlagChanged
from backout.durations import format_duration
from backout.errors import StepFailedError
from backout.incidents import EventKind, add_event, mark_recovered
from backout.steps.base import StepContext, StepOutcome
from backout.store import Incident
from backout.triggers import Held, Reading, hold

CUT_SHORT = "cut_short"  # the output key of a hold that turned the flag off on a trigger


class FlagSet:
    """Lower a flag to `percent` (a sticky rollout), or turn it off at 0."""

    kind: ClassVar[str] = "flag_set"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        if (cut := cut_short(ctx)) is not None:
            return _skipped_after(cut)
        key, percent = params["flag"], int(params["percent"])
        runtime = ctx.runtime
        if percent == 0:
            change = flag_changes.disable(
                runtime, key, actor=ctx.actor, reason=params["reason"], run_id=ctx.run_id
            )
        elif not runtime.flags().flag(key).enabled:
            return StepOutcome.skipped(f"{key} is off already: nothing to lower to {percent} %")
        else:
            change = flag_changes.rollout(
                runtime, key, percent, actor=ctx.actor, reason=params["reason"], run_id=ctx.run_id
            )
        _on_run_incident(ctx, change, params["reason"])
        return StepOutcome.done(change.sentence(), exposure=change.flag.exposure())

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        if (cut := cut_short(ctx)) is not None:
            return _skipped_after(cut)
        key, percent = params["flag"], int(params["percent"])
        flag = ctx.runtime.flags().flag(key)
        if not flag.enabled:
            return StepOutcome.done(f"{key} was already off", exposure=flag.exposure())
        if percent > 0 and flag.rollout == percent:
            return StepOutcome.done(f"{key} was already at {percent} %", exposure=flag.exposure())
        return None


class FlagHold:
    """Hold the flags where they are while the triggers of the watched services stay armed."""

    kind: ClassVar[str] = "flag_hold"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        if (cut := cut_short(ctx)) is not None:
            return _skipped_after(cut)
        flags, percent = list(params["flags"]), int(params["percent"])
        where = _where(flags, percent)
        seconds = float(params["hold_s"])
        held = watch_triggers(ctx, params["services"], seconds, where)
        if held.fired is None:
            if percent == 0 and held.watched:
                _mark_recovered(ctx, held.started)
            what = "no trigger fired" if held.watched else "nothing watched"
            seen = f" ({'; '.join(held.summaries())})" if held.watched else ""
            return StepOutcome.done(f"{what} in {format_duration(seconds)} {where}{seen}")
        fired = _fired(held.fired, where)
        _note_on_incident(ctx, fired)
        if percent == 0:
            raise StepFailedError(f"{fired}: turning the flag off did not stop it")
        if params["on_trigger"] == "stop":
            left = f"{', '.join(flags)} left at {percent} %"
            raise StepFailedError(f"{fired}; on trigger stop: {left}")
        sentences = [_cut_to_zero(ctx, key, fired).sentence() for key in flags]
        return StepOutcome.done(
            f"{fired}: {'; '.join(sentences)}; the ramp-down ends here", **{CUT_SHORT: fired}
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        if (cut := cut_short(ctx)) is not None:
            return _skipped_after(cut)
        flags, percent = list(params["flags"]), int(params["percent"])
        off = [key for key in flags if not ctx.runtime.flags().flag(key).enabled]
        if percent > 0 and off == flags:
            # A trigger fired and this hold turned it off, then the process died (or a
            # person pressed the kill switch meanwhile): either way the ramp ends here.
            cut = f"{', '.join(flags)} found off during the hold at {percent} %"
            return StepOutcome.done(f"{cut}: the ramp-down ends here", **{CUT_SHORT: cut})
        return None  # an interrupted hold is watched again in full


class FlagMarkRemove:
    """Mark the flag for removal: the next release's checklist names it."""

    kind: ClassVar[str] = "flag_mark_remove"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        if (cut := cut_short(ctx)) is not None:
            return StepOutcome.skipped(
                f"not marked for removal: {cut}; whether it goes is for the incident to decide"
            )
        key = params["flag"]
        change = flag_changes.mark_to_remove(
            ctx.runtime, key, actor=ctx.actor, reason=params["reason"], run_id=ctx.run_id
        )
        _on_run_incident(ctx, change, params["reason"])
        return StepOutcome.done(f"{key} marked for removal: the next release's checklist names it")

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        key = params["flag"]
        if ctx.runtime.flags().flag(key).to_remove:
            return StepOutcome.done(f"{key} was already marked for removal")
        return None


def watch_triggers(ctx: StepContext, services: list[str], seconds: float, where: str) -> Held:
    """Keep the triggers of `services` armed for `seconds` from now (see triggers.hold)."""
    held = hold(ctx.runtime, services, min(seconds, ctx.remaining()))
    if held.fired is None and held.idle and seconds > 0:
        idle = ", ".join(held.idle)
        raise StepFailedError(
            f"the metric source of {idle} took no samples {where}: nothing watched"
        )
    return held


def _fired(reading: Reading, where: str) -> str:
    """'trigger error-rate fired at 50 % of waitlist (api: error rate 12.0% > 5.0% for 1.0s)'."""
    verdict = reading.firing[0]
    return f"trigger {verdict.rule.name} fired {where} ({reading.service}: {verdict.sentence()})"


def _where(flags: list[str], percent: int) -> str:
    named = ", ".join(flags)
    return f"with {named} off" if percent == 0 else f"at {percent} % of {named}"


def cut_short(ctx: StepContext) -> str | None:
    """Why an earlier hold of this run ended the ramp-down, if one did."""
    held = [e.output for e in ctx.earlier if e.kind == "flag_hold"]  # of any flag of the run
    return next((str(o[CUT_SHORT]) for o in held if o.get(CUT_SHORT)), None)


def _skipped_after(cut: str) -> StepOutcome:
    return StepOutcome.skipped(f"the ramp-down ended earlier: {cut}")


def _cut_to_zero(ctx: StepContext, key: str, fired: str) -> FlagChanged:
    why = f"{fired}: straight to 0 %"
    change = flag_changes.disable(ctx.runtime, key, actor=ctx.actor, reason=why, run_id=ctx.run_id)
    _on_run_incident(ctx, change, why)
    return change


def _on_run_incident(ctx: StepContext, change: FlagChanged, why: str) -> None:
    """Put the change on the run's own incident when operations.flags did not (no guarded
    service's incident is the run's)."""
    if not change.changed or ctx.incident_id is None or ctx.incident_id in change.incident_ids:
        return
    with ctx.runtime.store.session() as session:
        message = f"{change.sentence()}: {why}"
        add_event(
            session,
            ctx.incident_id,
            EventKind.FLAG_CHANGED,
            message,
            actor=ctx.actor,
            run_id=ctx.run_id,
        )


def _note_on_incident(ctx: StepContext, message: str) -> None:
    if ctx.incident_id is None:
        return
    with ctx.runtime.store.session() as session:
        add_event(
            session,
            ctx.incident_id,
            EventKind.TRIGGER_FIRED,
            message,
            actor=ctx.actor,
            run_id=ctx.run_id,
        )


def _mark_recovered(ctx: StepContext, at: datetime) -> None:
    """The flags are off and no trigger fired for the whole hold: that verifies the recovery,
    which began when the hold did (the flags had just gone off)."""
    if ctx.incident_id is None:
        return
    with ctx.runtime.store.session() as session:
        incident = session.get(Incident, ctx.incident_id)
        if incident is not None:
            mark_recovered(session, incident, max(at, incident.detected_at), actor=ctx.actor)
