"""A run is executed under its lease: a process that lost it (paused past it, cut off from the
store, taken over) acts on nothing more and records nothing more, and the next holder finishes
the run without repeating a step that took effect."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select, update

from backout.errors import FencedError
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.runs.executor import Executor
from backout.runs.records import StepEvent, StepState, run_lease
from backout.runs.start import StoredRun, start_run
from backout.store import Lease, Store, TimelineEvent
from backout.store.leases import Grant, acquire, release

if TYPE_CHECKING:
    from conftest import FakeClock, Site

DEPLOY = 2  # drain, deploy, health, restore_traffic, monitor, mark_release
SUCCESSOR = "another-node:4242:1"


def take_over(store: Store, run_id: int) -> Grant:
    """Another controller takes the run, as it would once this process's lease lapsed."""
    with store.session() as session:
        session.execute(update(Lease).where(Lease.name == run_lease(run_id)).values(expires_at=0.0))
        grant = acquire(session, run_lease(run_id), SUCCESSOR, 10.0)
    assert grant is not None
    return grant


def timeline(store: Store, run_id: int) -> list[str]:
    with store.session() as session:
        query = select(TimelineEvent).where(TimelineEvent.run_id == run_id)
        return [f"{e.kind}: {e.message}" for e in session.scalars(query.order_by(TimelineEvent.id))]


def when_deploy_starts(action: Callable[[int], None]) -> Callable[[StepEvent], None]:
    def listener(event: StepEvent) -> None:
        if event.position == DEPLOY and event.state is StepState.RUNNING:
            action(event.run_id)

    return listener


@pytest.fixture
def other_process(site: Site) -> Iterator[Store]:
    """The store as another process sees it (the executor's thread fences its own)."""
    store = Store.open(f"sqlite:///{site.root / 'state.db'}")
    yield store
    store.close()


def test_a_process_that_finds_its_lease_taken_acts_on_nothing_more(
    site: Site, clock: FakeClock, other_process: Store
) -> None:
    runtime = site.runtime(clock)
    run_id = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id
    recorded: list[list[str]] = []

    def lose_the_lease(run_id: int) -> None:
        take_over(other_process, run_id)
        keeper = paused.lease(run_id)
        assert keeper is not None
        assert not keeper.renew_now(), "its next heartbeat finds the lease taken"
        recorded.append(timeline(other_process, run_id))

    paused = Executor(runtime, actor="tester", on_step=when_deploy_starts(lose_the_lease))

    with pytest.raises(FencedError, match=f"held by {SUCCESSOR}"):
        paused.execute(run_id)

    assert site.runtime().driver("api").current() == "1.1.0", "the deploy did not happen"
    assert site.deploys() == 1, "only the seed's deploy"
    assert site.step(run_id, DEPLOY).state == "running"
    assert timeline(runtime.store, run_id) == recorded[0], "nothing recorded after the loss"
    assert site.run(run_id).state == "running"


def test_a_write_after_the_lease_changed_hands_is_refused_and_the_next_holder_observes_it(
    site: Site, clock: FakeClock, other_process: Store
) -> None:
    runtime = site.runtime(clock)
    run_id = start_rollback(runtime, RollbackRequest("api"), actor="tester").run_id
    successors: list[Grant] = []

    def taken_unnoticed(run_id: int) -> None:  # the deploy goes ahead: it had begun
        successors.append(take_over(other_process, run_id))

    fenced = Executor(runtime, actor="tester", on_step=when_deploy_starts(taken_unnoticed))
    with pytest.raises(FencedError):
        fenced.execute(run_id)
    assert site.step(run_id, DEPLOY).state == "running", "its success was not recorded"
    assert not any(
        line.startswith("step_succeeded: step 2/") for line in timeline(runtime.store, run_id)
    )

    with runtime.store.session() as session:  # the successor stops; the run is free again
        release(session, successors[0])
    result = start_run(runtime, StoredRun(run_id, "successor")).execute()

    assert result.state == "succeeded", result.message
    deploy = site.step(run_id, DEPLOY)
    assert deploy.attempts == 1
    assert deploy.message is not None
    assert deploy.message.startswith("(observed after an interruption)")
    site.assert_rolled_back_once(run_id)
