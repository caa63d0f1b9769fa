"""`backout watch` sends what any process queued, from a thread of its own."""

from __future__ import annotations

import signal

from tests.notify.conftest import NotifySite, Receiver, wait_for
from tests.notify.test_delivery import team


def test_the_watch_loop_tells_what_a_cli_rollback_queued(
    nsite: NotifySite, receiver: Receiver
) -> None:
    nsite.tell(team(receiver))
    watch = nsite.start("watch")

    assert nsite.backout("rollback", "api", "--yes").returncode == 0
    wait_for(lambda: len(receiver.received) == 4, "the watch loop to send the 4 notifications")

    watch.send_signal(signal.SIGTERM)
    watch.wait(30)
    assert {n["state"] for n in nsite.notifications()} == {"sent"}
