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
import hmac
import json
import secrets
from pathlib import Path

from sqlalchemy.orm import Session

from backout import releases
from backout.atomic import write_text_atomic
from backout.errors import RefusedError
from backout.infra.base import Variables
from backout.limits import MAX_REF_CHARS, MAX_VERSION_CHARS
from backout.redact import redact
from backout.store import Release
from backout.subjects import Subject


def canonical(variables: Variables) -> str:
    """The one JSON text of a set of variables (sorted keys, no spaces): compared and stored."""
    return json.dumps(variables, sort_keys=True, separators=(",", ":"))


def version_of(variables: Variables, label_key: bytes) -> str:
    """`image=v1.2, replicas=3`; `sha256:...` when that would not fit the column.

    The label is shown everywhere a version is (output, timelines, notifications): a variable
    whose name says it is a secret (`db_password`) is masked in it, and a digest of the whole
    set then keeps two sets that differ only in the secret apart. That digest is keyed with
    this installation's `label_key`: a plain hash beside the other variables would let anyone
    who reads the version test guesses of the secret.
    """
    text = canonical(variables).encode()
    label = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(variables.items()))
    label = label.replace('"', "") or "(no variables)"
    shown = redact(label)
    if shown == label:
        digest = hashlib.sha256(text).hexdigest()
    else:
        digest = hmac.new(label_key, text, hashlib.sha256).hexdigest()
        shown += f" #{digest[:8]}"
    if len(shown) <= MAX_VERSION_CHARS:
        return shown
    return "sha256:" + digest[:32]


def label_key(state_dir: Path) -> bytes:
    """This installation's key for the digests of versions holding a secret; made once."""
    path = state_dir / "infra-label.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        write_text_atomic(path, secrets.token_hex(32), mode=0o600)
        return path.read_bytes()


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
    label_key: bytes,
    run_id: int | None = None,
) -> tuple[Release, bool]:
    """Record `variables` as what stack `name` is applied with now; True when that is a change.

    Idempotent: recording the live variables again adds nothing.
    """
    ref = canonical(variables)
    if len(ref) > MAX_REF_CHARS:
        raise RefusedError(
            f"the variables of stack {name} are {len(ref)} characters of JSON; backout records "
            f"up to {MAX_REF_CHARS}",
            hint="keep in the recorded variables only what changes between releases "
            "(image tags, counts); the rest belongs in the stack's own .tf files",
        )
    key = Subject.stack(name).key
    return releases.record_observed(
        session,
        environment,
        key,
        version_of(variables, label_key),
        ref=ref,
        actor=actor,
        run_id=run_id,
    )


def live_release(session: Session, environment: str, name: str) -> Release | None:
    """The variables last recorded as applied, if any were."""
    return releases.live(session, environment, Subject.stack(name).key)


def previous_release(session: Session, environment: str, name: str) -> Release | None:
    """The previous variables: the newest deployed before the live ones and not rolled back."""
    return releases.previous_live(session, environment, Subject.stack(name).key)
