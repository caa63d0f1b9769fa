"""A crash between an event's commit and its sending loses nothing and sends nothing twice:
the notification is in the store with its event, and whichever process delivers next claims
it once — even two delivering at the same moment."""

from __future__ import annotations

import signal
import threading

from backout.notify.delivery import CLAIM_LEASE_S
from tests.notify.conftest import NotifySite, Receiver, later
from tests.notify.test_delivery import MOMENTS, team


def test_a_rollback_by_a_process_that_is_gone_is_told_once_by_the_next(
    nsite: NotifySite, receiver: Receiver
) -> None:
    nsite.tell(team(receiver))
    rollback = nsite.backout("rollback", "api", "--yes")  # a process that sends nothing
    assert rollback.returncode == 0, rollback.stderr
    assert receiver.received == []
    assert [n["moment"] for n in nsite.notifications()] == MOMENTS

    first = nsite.backout("notify", "deliver")
    again = nsite.backout("notify", "deliver")

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("4 sent, 0 failed"), first.stdout
    assert again.stdout.startswith("0 sent"), again.stdout
    assert len(receiver.received) == 4


def test_two_deliverers_at_once_send_each_notification_once(
    nsite: NotifySite, receiver: Receiver
) -> None:
    nsite.tell(team(receiver))
    assert nsite.backout("rollback", "api", "--yes").returncode == 0
    deliverers = [nsite.deliverer(holder=f"deliverer-{i}") for i in range(2)]
    threads = [threading.Thread(target=d.deliver_once) for d in deliverers]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(receiver.titles()) == sorted(n["title"] for n in nsite.notifications())
    assert len(receiver.received) == 4
    assert {n["state"] for n in nsite.notifications()} == {"sent"}


def test_a_claim_whose_holder_died_is_taken_over_after_its_lease(
    nsite: NotifySite, receiver: Receiver
) -> None:
    nsite.tell(team(receiver))
    assert nsite.backout("rollback", "api", "--yes").returncode == 0
    dead = nsite.deliverer(holder="died-mid-send")
    claimed = dead._claim_next(exclude=set())  # claimed, then the process died
    assert claimed is not None

    assert nsite.deliverer().deliver_once().sent == [], "its claim holds the target's queue"
    taken_over = nsite.deliverer(at=later(CLAIM_LEASE_S / 60 + 1)).deliver_once()

    assert taken_over.sent == [1, 2, 3, 4]
    with nsite.runtime().store.session() as session:
        late = dead._finish(session, claimed, state="sent")
    assert not late, "the dead holder's late word is refused"


def test_a_rollback_killed_mid_run_loses_no_notification_and_repeats_none(
    nsite: NotifySite, receiver: Receiver
) -> None:
    nsite.tell(team(receiver))
    died = nsite.backout("rollback", "api", "--yes", failpoints="executor.after_step=2")
    assert died.returncode == -signal.SIGKILL, died.stderr
    assert [n["moment"] for n in nsite.notifications()] == MOMENTS[:2], "committed with events"

    told_then = nsite.backout("notify", "deliver")
    resumed = nsite.backout("resume")
    told_after = nsite.backout("notify", "deliver")

    assert resumed.returncode == 0, resumed.stderr
    assert told_then.stdout.startswith("2 sent, 0 failed"), told_then.stdout
    assert told_after.stdout.startswith("2 sent, 0 failed"), told_after.stdout
    moments = [n["moment"] for n in nsite.notifications()]
    assert moments == MOMENTS, "each moment queued once, across the crash"
    assert len(receiver.titles()) == len(set(receiver.titles())) == 4
