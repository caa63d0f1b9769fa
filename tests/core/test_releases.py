"""Releases: recorded once per version, judged, and the last known good found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from backout import releases
from backout.errors import RefusedError, UnknownVersionError
from backout.releases import ReleaseStatus
from backout.store import Store


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    store = Store.open(f"sqlite:///{tmp_path}/state.db")
    with store.session() as s:
        yield s
    store.close()


def record(session: Session, version: str, status: ReleaseStatus, ref: str | None = None) -> None:
    releases.mark(releases.record(session, "prod", "api", version, ref=ref, actor="ci"), status)


def test_last_known_good_is_the_newest_release_marked_good(session: Session) -> None:
    record(session, "1.0.0", ReleaseStatus.GOOD)
    record(session, "1.1.0", ReleaseStatus.GOOD)
    record(session, "1.2.0", ReleaseStatus.BAD)
    good = releases.last_known_good(session, "prod", "api")
    assert good is not None
    assert good.version == "1.1.0"
    other = releases.last_known_good(session, "prod", "api", other_than="1.1.0")
    assert other is not None
    assert other.version == "1.0.0"
    assert releases.last_known_good(session, "staging", "api") is None


def test_recording_the_same_version_again_is_idempotent(session: Session) -> None:
    first = releases.record(session, "prod", "api", "1.0.0", ref="abc123", actor="ci")
    again = releases.record(session, "prod", "api", "1.0.0", ref="abc123", actor="ci")
    assert again.id == first.id


def test_one_version_cannot_name_two_artifacts(session: Session) -> None:
    releases.record(session, "prod", "api", "1.0.0", ref="abc123", actor="ci")
    with pytest.raises(RefusedError, match="already recorded with ref 'abc123'"):
        releases.record(session, "prod", "api", "1.0.0", ref="def456", actor="ci")


def test_an_unknown_version_lists_the_known_ones(session: Session) -> None:
    record(session, "1.0.0", ReleaseStatus.GOOD)
    record(session, "1.1.0", ReleaseStatus.LIVE)
    with pytest.raises(UnknownVersionError) as raised:
        releases.find(session, "prod", "api", "9.9.9")
    assert "known versions: 1.1.0, 1.0.0" in str(raised.value)


def test_live_is_the_release_most_recently_deployed(session: Session) -> None:
    assert releases.live(session, "prod", "api") is None
    for version in ("1.0.0", "1.1.0"):
        record(session, version, ReleaseStatus.LIVE)
        releases.record_deployment(
            session, releases.find(session, "prod", "api", version), actor="ci"
        )
    releases.record_deployment(session, releases.find(session, "prod", "api", "1.0.0"), actor="ci")
    live = releases.live(session, "prod", "api")
    assert live is not None
    assert live.version == "1.0.0"
