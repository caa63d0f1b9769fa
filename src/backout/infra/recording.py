"""The variables applied to a stack, recorded as the releases of its subject `stack:NAME`.

A set of variables is a release: its version is the variables as a person reads them
(`image=v1.2, replicas=3`, or a digest when that is too long), its ref the variables whole
(canonical JSON). `backout infra record` (a pipeline runs it after it applies) and a rollback
record a deployment of the variables applied; the deployments are the stack's history, so the
*previous* variables are those of the newest deployment before the live one that was not
rolled back. Going back to variables applied before deploys their release again.
"""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from backout import releases
from backout.errors import RefusedError
from backout.infra.base import Variables
from backout.releases import ReleaseStatus
from backout.store import Deployment, Release
from backout.subjects import Subject, SubjectKind

_VERSION_LENGTH = 128  # releases.version
_REF_LENGTH = 512  # releases.ref


def stack_subject(name: str) -> Subject:
    return Subject(SubjectKind.STACK, name)


def canonical(variables: Variables) -> str:
    """The one JSON text of a set of variables (sorted keys, no spaces): compared and stored."""
    return json.dumps(variables, sort_keys=True, separators=(",", ":"))


def version_of(variables: Variables) -> str:
    """`image=v1.2, replicas=3`; `sha256:...` when that would not fit the column."""
    label = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(variables.items()))
    label = label.replace('"', "") or "(no variables)"
    if len(label) <= _VERSION_LENGTH:
        return label
    return "sha256:" + hashlib.sha256(canonical(variables).encode()).hexdigest()[:32]


def recorded_variables(release: Release) -> Variables:
    """The variables a release of a `stack:` subject holds."""
    found: Variables = json.loads(release.ref or "{}")
    return found


def record_applied(
    session: Session,
    environment: str,
    name: str,
    variables: Variables,
    *,
    actor: str,
    run_id: int | None = None,
) -> tuple[Release, bool]:
    """Record `variables` as what stack `name` is applied with now; True when that is a change.

    Idempotent: recording the live variables again adds nothing.
    """
    ref = canonical(variables)
    if len(ref) > _REF_LENGTH:
        raise RefusedError(
            f"the variables of stack {name} are {len(ref)} characters of JSON; backout records "
            f"up to {_REF_LENGTH}",
            hint="keep in the recorded variables only what changes between releases "
            "(image tags, counts); the rest belongs in the stack's own .tf files",
        )
    key = stack_subject(name).key
    release = releases.record(
        session, environment, key, version_of(variables), ref=ref, actor=actor,
        status=ReleaseStatus.LIVE,
    )  # fmt: skip
    live = releases.live(session, environment, key)
    if live is not None and live.id == release.id:
        return release, False
    if live is not None and live.status == ReleaseStatus.LIVE:
        releases.mark(live, ReleaseStatus.GOOD, reason="replaced by other variables")
    releases.mark(release, ReleaseStatus.LIVE)
    releases.record_deployment(session, release, actor=actor, run_id=run_id)
    return release, True


def live_release(session: Session, environment: str, name: str) -> Release | None:
    """The variables last recorded as applied, if any were."""
    return releases.live(session, environment, stack_subject(name).key)


def previous_release(session: Session, environment: str, name: str) -> Release | None:
    """The previous variables: the newest deployed before the live ones and not rolled back."""
    live_id: int | None = None
    for deployment in history(session, environment, name):
        release = deployment.release
        if live_id is None:
            live_id = release.id
        elif release.id != live_id and release.status != ReleaseStatus.ROLLED_BACK:
            return release
    return None


def history(session: Session, environment: str, name: str) -> list[Deployment]:
    """Every deployment of the stack's variables, newest first."""
    key = stack_subject(name).key
    return list(
        session.scalars(
            select(Deployment)
            .where(Deployment.environment == environment, Deployment.service == key)
            .order_by(Deployment.id.desc())
        )
    )
