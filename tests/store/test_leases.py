"""The lease contract, the same on SQLite and on a real PostgreSQL: one holder at a time, expiry by
the database's clock, a fencing number that only grows, and a fence that refuses the writes of
a holder that lost its lease."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backout.audit import audit
from backout.errors import FencedError
from backout.store import AuditEntry, Lease, Store
from backout.store.leases import (
    Grant,
    LeaseKeeper,
    acquire,
    database_now,
    hold,
    lease_state,
    node_name,
    release,
    renew,
    this_process,
)
from backout.store.tables import audit_log

ME = this_process()
ELSEWHERE = "another-node:4242:1"  # a process on another machine: never known dead
LEASE_S = 10.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = Store.open(url)
    yield opened
    opened.close()


def take(store: Store, holder: str, lease_s: float = LEASE_S, name: str = "run:1") -> Grant | None:
    with store.session() as session:
        return acquire(session, name, holder, lease_s)


def taken(store: Store, holder: str, lease_s: float = LEASE_S) -> Grant:
    grant = take(store, holder, lease_s)
    assert grant is not None, f"{holder} could not take the lease"
    return grant


def test_a_free_lease_is_granted_with_fencing_one_and_refused_to_another_while_it_runs(
    store: Store,
) -> None:
    first = taken(store, ME)

    assert first.fencing == 1
    assert take(store, ELSEWHERE) is None
    with store.session() as session:
        state = lease_state(session, "run:1")
    assert state is not None
    assert (state.holder, state.fencing, state.held) == (ME, 1, True)
    assert LEASE_S - 2 < state.remaining_s <= LEASE_S


def test_the_holder_taking_its_lease_again_renews_it_and_keeps_its_fencing_number(
    store: Store,
) -> None:
    first = taken(store, ME, lease_s=1.0)

    again = taken(store, ME, lease_s=LEASE_S)

    assert again == first
    with store.session() as session:
        state = lease_state(session, "run:1")
        assert state is not None
        assert state.remaining_s > 1.0
        assert renew(session, first, LEASE_S)


def test_an_expired_lease_goes_to_the_next_holder_with_the_next_fencing_number(
    store: Store,
) -> None:
    lapsed = taken(store, ME, lease_s=0.0)  # expires the moment it is granted

    successor = taken(store, ELSEWHERE)

    assert successor.fencing == lapsed.fencing + 1
    with store.session() as session:
        assert not renew(session, lapsed, LEASE_S), "a lease that changed hands stays lost"


def test_a_lapsed_lease_no_one_took_is_still_its_holders(store: Store) -> None:
    lapsed = taken(store, ELSEWHERE, lease_s=0.0)

    with store.session() as session:
        assert renew(session, lapsed, LEASE_S)
        hold(session, lapsed)  # nobody acted meanwhile: its writes stand


def test_the_fence_refuses_a_holder_that_lost_its_lease_and_keeps_nothing_it_wrote(
    store: Store,
) -> None:
    lapsed = taken(store, ME, lease_s=0.0)
    taken(store, ELSEWHERE)

    def record_under_the_lapsed_lease() -> None:
        with store.session() as session:
            session.add(AuditEntry(actor="fenced", action="run.step", target="api"))
            session.flush()
            hold(session, lapsed)

    with pytest.raises(FencedError, match=r"lost its lease; it is held by another-node:4242:1"):
        record_under_the_lapsed_lease()

    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_a_unit_of_work_on_rows_that_writes_is_fenced_as_a_session_is(store: Store) -> None:
    """`Store.connection(fenced=True)` (a flag change recorded without the ORM) begins with the
    fence; a read through `connection()` does not."""
    lapsed = taken(store, ME, lease_s=0.0)
    taken(store, ELSEWHERE)
    kept = take(store, ME, name="run:2")
    assert kept is not None

    with store.fenced(lambda session: hold(session, lapsed)):
        with (
            pytest.raises(FencedError, match="lost its lease"),
            store.connection(fenced=True) as connection,
        ):
            audit(connection, "fenced", "flag.changed", "new-checkout")
        with store.connection() as connection:
            refused = connection.scalar(select(func.count()).select_from(audit_log))
    with (
        store.fenced(lambda session: hold(session, kept)),
        store.connection(fenced=True) as connection,
    ):
        audit(connection, "holder", "flag.changed", "new-checkout")

    assert refused == 0
    with store.session() as session:
        assert session.scalars(select(AuditEntry.actor)).all() == ["holder"]


def test_a_released_lease_is_free_and_its_fencing_number_never_goes_back(store: Store) -> None:
    first = taken(store, ME)
    with store.session() as session:
        release(session, first)
        state = lease_state(session, "run:1")
    assert state is not None
    assert not state.held

    second = taken(store, ELSEWHERE)

    assert second.fencing == 2


def test_a_holder_of_this_node_whose_process_is_gone_is_taken_over_at_once(
    store: Store,
) -> None:
    gone = f"{node_name()}:{os.getpid()}:0"  # this pid, another start time: a process gone
    taken(store, gone)

    successor = taken(store, ME)

    assert successor.fencing == 2


def test_a_holder_of_another_node_is_never_taken_for_dead_before_its_lease_expires(
    store: Store,
) -> None:
    taken(store, "another-node:1:1")

    assert take(store, ME) is None


def test_expiry_is_computed_by_the_databases_clock(store: Store) -> None:
    grant = taken(store, ME)
    with store.session() as session:
        now = session.scalar(select(database_now(session)))
        expires = session.scalar(select(Lease.expires_at).where(Lease.name == grant.name))
    assert now is not None
    assert expires is not None
    assert 0 < expires - now <= LEASE_S


def test_of_many_holders_racing_for_one_lapsed_lease_exactly_one_wins(store: Store) -> None:
    taken(store, "another-node:1:1", lease_s=0.0)
    racers = [f"racer-{n}:1:1" for n in range(6)]
    start = threading.Barrier(len(racers))
    grants: list[Grant | None] = []

    def race(holder: str) -> None:
        start.wait()
        grants.append(take(store, holder))

    threads = [threading.Thread(target=race, args=(holder,)) for holder in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    winners = [grant for grant in grants if grant is not None]
    assert len(grants) == len(racers)
    assert len(winners) == 1, winners
    assert winners[0].fencing == 2


def test_a_keeper_that_finds_its_lease_taken_is_lost_for_good(store: Store) -> None:
    lapsed = taken(store, ME, lease_s=0.0)
    keeper = LeaseKeeper(
        store.session, lapsed, lease_s=LEASE_S, renew_s=3.0, granted_at=time.monotonic()
    )
    assert keeper.valid()
    taken(store, ELSEWHERE)

    assert not keeper.renew_now()

    assert not keeper.valid()
    with pytest.raises(FencedError, match="held by another-node:4242:1"):
        keeper.check()


def test_a_keeper_not_renewed_for_its_lease_time_may_no_longer_act(store: Store) -> None:
    """A process paused past its lease knows it by its own clock, before asking the store."""
    grant = taken(store, ME)
    paused_since = time.monotonic() - LEASE_S  # its last renewal was a lease time ago
    keeper = LeaseKeeper(
        store.session, grant, lease_s=LEASE_S, renew_s=3.0, granted_at=paused_since
    )

    assert not keeper.valid()
    with pytest.raises(FencedError, match="has not renewed its lease"):
        keeper.check()


def test_a_keepers_heartbeat_renews_the_lease(store: Store) -> None:
    grant = taken(store, ME, lease_s=1.0)
    keeper = LeaseKeeper(
        store.session, grant, lease_s=1.0, renew_s=0.1, granted_at=time.monotonic()
    ).start()
    try:
        watched_until = time.monotonic() + 3.0  # three lease times: lapsed but for renewals
        while time.monotonic() < watched_until:
            with store.session() as session:
                state = lease_state(session, grant.name)
            assert state is not None
            assert state.held, "the heartbeat let the lease lapse"
            time.sleep(0.05)
        assert keeper.valid()
    finally:
        keeper.stop()
