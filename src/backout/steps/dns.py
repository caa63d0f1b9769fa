"""The steps of the DNS record plan: set a record set back, then read it back and record it.

Each step's observe() reads the record from its provider, so a resumed run never sends a
change twice and never records a set the provider does not answer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from backout import releases
from backout.dns import RecordSet, dns_provider_for
from backout.dns.recording import live_release, record_live
from backout.errors import StepFailedError
from backout.steps.base import StepContext, StepOutcome
from backout.subjects import Subject

_POLL_S = 0.5


def _target(params: dict[str, Any]) -> RecordSet:
    wanted = params["target"]
    return RecordSet.of(params["record"], wanted["type"], wanted["values"], wanted["ttl"])


class DnsSet:
    """Put the recorded previous record set in place (an idempotent, atomic upsert)."""

    kind: ClassVar[str] = "dns_set"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        target = _target(params)
        provider = dns_provider_for(ctx.runtime.config, target.name)
        before = provider.read(target.name, target.rtype)
        if target.same_as(before):
            return StepOutcome.done(f"{target.name} answers {target.describe()} already")
        provider.apply(target)
        was = before.describe() if before is not None else "nothing"
        return StepOutcome.done(
            f"{target.name} set to {target.describe()} (it was {was})",
            before=list(before.values) if before is not None else [],
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        target = _target(params)
        now = dns_provider_for(ctx.runtime.config, target.name).read(target.name, target.rtype)
        if target.same_as(now):
            return StepOutcome.done(f"{target.name} answers {target.describe()}")
        return None


class DnsVerify:
    """Read the record back until it answers the target; then record that set live again and
    the set it replaced rolled back."""

    kind: ClassVar[str] = "dns_verify"

    def run(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome:
        target = _target(params)
        provider = dns_provider_for(ctx.runtime.config, target.name)
        seen = provider.read(target.name, target.rtype)
        while not target.same_as(seen):
            if ctx.remaining() <= 0:
                shown = seen.describe() if seen is not None else "no such record"
                raise StepFailedError(
                    f"{target.name} still answers {shown}, not {target.describe()}",
                    retryable=True,
                )
            ctx.runtime.clock.sleep(min(_POLL_S, ctx.remaining()))
            seen = provider.read(target.name, target.rtype)
        self._record(ctx, target, params)
        return StepOutcome.done(
            f"{target.name} answers {target.describe()}; recorded live again",
            values=list(target.values),
        )

    def observe(self, ctx: StepContext, params: dict[str, Any]) -> StepOutcome | None:
        target = _target(params)
        with ctx.runtime.store.session() as session:
            live = live_release(session, ctx.runtime.environment, target.name)
            recorded = live is not None and live.version == params["to_version"]
        now = dns_provider_for(ctx.runtime.config, target.name).read(target.name, target.rtype)
        if recorded and target.same_as(now):
            return StepOutcome.done(f"{target.name} answers {target.describe()}; recorded live")
        return None  # reading back and recording are idempotent: do them again

    @staticmethod
    def _record(ctx: StepContext, target: RecordSet, params: dict[str, Any]) -> None:
        runtime = ctx.runtime
        with runtime.store.session() as session:
            left = params.get("from_version")
            if left is not None and left != params["to_version"]:
                key = Subject.dns_record(target.name).key
                reason = f"rolled back by run {ctx.run_id}: {params['reason']}"
                releases.mark_rolled_back_if_recorded(
                    session, runtime.environment, key, left, reason=reason
                )
            record_live(session, runtime.environment, target, actor=ctx.actor, run_id=ctx.run_id)
