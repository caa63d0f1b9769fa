"""The security trigger: a vulnerability discovered in released versions of a service.

`report_advisory` records the advisory (a CVE or GHSA id) on each affected release — a release
with an advisory is never a rollback's target again (`releases.last_known_good`) — and, when
the live release is affected, fires the security trigger (operations/outside_triggers.py): a
security incident, and the service's security policy (by default its `policy`) rolls back to
the newest good release no advisory affects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from backout import releases
from backout.audit import audit
from backout.categories import IncidentCategory
from backout.errors import NothingToRollBackToError, NoUnaffectedReleaseError, RefusedError
from backout.operations.outside_triggers import (
    Action,
    OutsideTrigger,
    TriggerOutcome,
    fire,
)
from backout.runtime import Runtime

ADVISORY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
"""An advisory's id: CVE-2026-1234, GHSA-xxxx-xxxx-xxxx, a vendor's own (no spaces)."""

MAX_AFFECTED = 100  # versions named in one report


@dataclass(frozen=True)
class Advisory:
    service: str
    advisory: str
    affected: tuple[str, ...] = ()  # versions; none named: the live release


@dataclass(frozen=True)
class AdvisoryPreview:
    """What a report would touch, for the CLI's question before it changes anything."""

    live_version: str | None
    affected: tuple[str, ...]
    policy: str

    @property
    def live_affected(self) -> bool:
        return self.live_version is not None and self.live_version in self.affected


def preview_advisory(runtime: Runtime, report: Advisory) -> AdvisoryPreview:
    """The live release and the affected versions (each known: UnknownVersionError if not)."""
    _check_id(report.advisory)
    if len(report.affected) > MAX_AFFECTED:
        raise RefusedError(f"at most {MAX_AFFECTED} affected versions in one report")
    policy = runtime.config.service(report.service).policy_for(IncidentCategory.SECURITY)
    env = runtime.environment
    with runtime.store.session() as session:
        live = releases.live(session, env, report.service)
        affected = report.affected or ((live.version,) if live else ())
        if not affected:
            raise RefusedError(
                f"nothing of {report.service} is deployed: name the affected versions",
                hint=f"backout trigger {report.service} --security {report.advisory} "
                "--affected VERSION[,VERSION]",
            )
        for version in affected:
            releases.find(session, env, report.service, version)
    return AdvisoryPreview(live.version if live else None, tuple(dict.fromkeys(affected)), policy)


def report_advisory(runtime: Runtime, report: Advisory, *, actor: str) -> TriggerOutcome:
    """Record the advisory on the affected releases; if the live one is, apply the policy."""
    preview = preview_advisory(runtime, report)
    name = report.service
    env = runtime.environment
    with runtime.store.session() as session:
        for version in preview.affected:
            release = releases.find(session, env, name, version)
            if releases.add_advisory(release, report.advisory):
                detail = {"version": version, "advisory": report.advisory, "environment": env}
                audit(session, actor, "release.advisory", name, **detail)
    recorded = ", ".join(preview.affected)
    if not preview.live_affected:
        live = preview.live_version or "(nothing deployed)"
        return TriggerOutcome(
            Action.NOT_AFFECTED,
            f"{name} {live} is not affected by {report.advisory}: recorded on {recorded}; "
            "nothing rolled back",
        )
    trigger = OutsideTrigger(
        service=name,
        category=IncidentCategory.SECURITY,
        name=f"security:{report.advisory}",
        summary=f"affected by {report.advisory}",
        evidence=[{"source": "security", "advisory": report.advisory, "affected": recorded}],
    )
    outcome = fire(runtime, trigger, actor=actor)
    if isinstance(outcome.refused, NothingToRollBackToError):  # say what the trouble is
        refused = NoUnaffectedReleaseError(name, report.advisory)
        sentence = (
            f"{name} {preview.live_version}: {trigger.summary}: incident {outcome.incident_id} "
            f"opened, but no rollback: {refused.message}"
        )
        return replace(outcome, sentence=sentence, refused=refused)
    return outcome


def _check_id(advisory: str) -> None:
    if not ADVISORY_ID.fullmatch(advisory):
        raise RefusedError(
            f"not an advisory id: {advisory[:80]!r}",
            hint="e.g. CVE-2026-1234 or GHSA-xxxx-xxxx-xxxx: letters, digits, '.', '_', ':' "
            "or '-', at most 64",
        )
