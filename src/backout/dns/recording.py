"""What a DNS record pointed to, recorded as the releases of its subject `dns_record:NAME`.

A record set is a release: its version is the values and TTL as a person reads them
(`192.0.2.10 ttl 300`), its ref the record set whole (JSON). `backout dns record` (a pipeline
runs it after it changes the record) and a rollback record a deployment of the set they found
or put in place; the deployments are the record's history, so the *previous target* is the set
of the newest deployment before the live one that was not rolled back. Going back to a set
that was live before deploys its release again (a version names one record set).
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from backout import releases
from backout.dns.base import RecordSet
from backout.errors import RefusedError
from backout.limits import MAX_REF_CHARS, MAX_VERSION_CHARS
from backout.store import Release
from backout.subjects import Subject


def version_of(record: RecordSet) -> str:
    """`192.0.2.10,192.0.2.11 ttl 300`; a digest when that would not fit the column."""
    label = f"{','.join(record.values)} ttl {record.ttl}"
    if len(label) <= MAX_VERSION_CHARS:
        return label
    return "sha256:" + hashlib.sha256(record.to_json().encode()).hexdigest()[:32]


def recorded_set(release: Release) -> RecordSet:
    """The record set a release of a `dns_record:` subject holds."""
    name = Subject.parse(release.service).name
    return RecordSet.from_json(name, release.ref or "{}")


def record_live(
    session: Session, environment: str, record: RecordSet, *, actor: str, run_id: int | None = None
) -> tuple[Release, bool]:
    """Record `record` as what its name points to now; True when that is a change.

    Idempotent: recording the live set again adds nothing.
    """
    ref = record.to_json()
    if len(ref) > MAX_REF_CHARS:
        raise RefusedError(
            f"the record set of {record.name} is {len(ref)} characters long; backout records "
            f"sets of up to {MAX_REF_CHARS}"
        )
    key = Subject.dns_record(record.name).key
    return releases.record_observed(
        session, environment, key, version_of(record), ref=ref, actor=actor, run_id=run_id
    )


def live_release(session: Session, environment: str, name: str) -> Release | None:
    """The record set last recorded as live, if any was."""
    return releases.live(session, environment, Subject.dns_record(name).key)


def previous_release(session: Session, environment: str, name: str) -> Release | None:
    """The previous target: the newest set deployed before the live one and not rolled back."""
    return releases.previous_live(session, environment, Subject.dns_record(name).key)
