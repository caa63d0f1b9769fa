"""The controller owns everything long-running: the watch loop, orphaned runs, background runs.

`backout watch` runs it in the foreground, `backout serve` beside the API. Several controllers
may share one state store (PostgreSQL): among those that watch, exactly one — the holder of
the lease `watch:<environment>` (store/leases.py) — runs watch cycles and resumes orphaned
runs; the others stand by, trying for the lease each cycle, and one takes over within the
lease time plus one cycle when the leader dies or is cut off. One lease per environment, not
per service: a cycle walks every service anyway, and one renewal every few seconds keeps the
cost flat however many services there are. A controller that does not watch (`serve
--no-watch`) only resumes orphaned runs.

A leader that finds its lease lost (it was paused, or cut off from the store, and another
took over) steps down: it stops watching, and the runs going in its background leave before
their next step (each run is also fenced by its own lease). Each service's turn of a cycle
first checks the lease is still valid by the local clock.

Orphaned runs are those whose lease is free or expired (store/leases.py); the leader looks
for them every cycle. Stopped (Ctrl-C, SIGTERM), the controller ends the watch loop after its
cycle, lets no run begin another step, gives the runs `grace_s` to finish the step they are
in (a run still mid-step then is left for the next start to resume, as durable execution
allows: its step is observed before anything is done again), names what it left, and frees
its watch lease for the next leader.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from backout.controller.background import BackgroundRuns
from backout.controller.watch import Watcher
from backout.drivers import reap_exited_children
from backout.errors import FencedError
from backout.notify.delivery import Deliverer, NotificationLoop, notifies
from backout.runs.records import RunResult, RunState, unfinished_runs
from backout.runs.start import RunHandle, StoredRun, start_run
from backout.runtime import Runtime
from backout.store.leases import LeaseKeeper, acquire, lease_state, release, this_process

log = logging.getLogger(__name__)

CONTROLLER_ACTOR = "backout-controller"


class Controller:
    """The watch loop (optional), orphaned runs resumed, and the runs going in the background."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        watch: bool = True,
        on_change: Callable[[str], None] | None = None,
        actor: str = CONTROLLER_ACTOR,
    ) -> None:
        self.runtime = runtime
        self.actor = actor
        self.on_change = on_change  # what it decides or does, one sentence each
        self._stop = threading.Event()
        self.runs = BackgroundRuns(self._stop, on_end=self._say_how_it_ended)
        self.watches = watch
        self.watcher = self._new_watcher() if watch else None
        self.holder = this_process()
        self.watch_lease = f"watch:{runtime.environment}"
        self.leadership: LeaseKeeper | None = None  # held while this controller leads
        self._stood_by = False  # said "standing by" (or lost the lease) since it last led
        self._loop: threading.Thread | None = None
        # Notifications are sent by a thread of their own: a dead target slows no cycle, no run.
        self.notifications = NotificationLoop(Deliverer(runtime.config, runtime.store), self._stop)

    @property
    def watching(self) -> bool:
        """Whether the watch loop runs in this controller (as leader or standing by)."""
        return self.watcher is not None and not self._stop.is_set()

    @property
    def leading(self) -> bool:
        return self.leadership is not None and self.leadership.valid()

    def decisions(self) -> dict[str, str]:
        return dict(self.watcher.last_decisions) if self.watcher is not None else {}

    def submit(self, handle: RunHandle) -> None:
        """Execute a run in the background (an API rollback, an approved run)."""
        self.runs.submit(handle)

    def resume_orphans(self) -> list[int]:
        """Take over the runs no one executes (their lease lapsed or free); returns their ids."""
        with self.runtime.store.session() as session:
            orphans = [run.id for run in unfinished_runs(session, self.runtime.environment)]
        going = set(self.runs.going())
        for run_id in (orphan for orphan in orphans if orphan not in going):
            said = f"run {run_id}: left unfinished by a process that is gone; resuming it"
            log.info("%s", said)
            if self.on_change is not None:
                self.on_change(said)
            self.runs.submit(start_run(self.runtime, StoredRun(run_id, self.actor)))
        return orphans

    def cycle(self) -> list[str]:
        """One turn: lead (or stand by), resume orphans, watch; what the watch cycle decided."""
        reap_exited_children()  # a service this process started and another one stopped
        if not self.watches:
            self.resume_orphans()
            return []
        if not self._lead() or self.watcher is None:
            return []
        self.resume_orphans()
        try:
            return self.watcher.run_cycle()
        except FencedError as lost:  # the lease lapsed during the cycle (paused, cut off)
            self._step_down(lost)
            return []

    def _lead(self) -> bool:
        """Whether this controller leads the watch now: keep, lose, or try for the lease."""
        if self.leadership is not None:
            if self.leadership.valid():
                return True
            self._step_down(self.leadership.lost_because or _lapsed(self.leadership))
        asked_at = time.monotonic()
        lease_s, renew_s = self._lease_times()
        with self.runtime.store.session() as session:
            grant = acquire(session, self.watch_lease, self.holder, lease_s)
            holder = None if grant else lease_state(session, self.watch_lease)
        if grant is None:
            if not self._stood_by:
                leader = holder.holder if holder is not None else "another controller"
                self._say(f"standing by: {leader} leads the watch of {self.runtime.environment}")
                self._stood_by = True
            return False
        keeper = LeaseKeeper(
            self.runtime.store.session,
            grant,
            lease_s=lease_s,
            renew_s=renew_s,
            granted_at=asked_at,
        )
        self.leadership = keeper.start()
        self.watcher = self._new_watcher()  # nothing held over from an earlier term
        said = f"leading the watch of {self.runtime.environment} (fencing {grant.fencing})"
        if self._stood_by:  # a takeover is news; the first start of a lone controller is not
            self._say(said)
        else:
            log.info("%s", said)
        self._stood_by = False
        return True

    def _step_down(self, lost: FencedError) -> None:
        """Stop watching; the runs going here leave before their next step."""
        if self.leadership is not None:
            self.leadership.stop()
        self.leadership = None
        self._stood_by = True
        self.runs.leave_all()
        self._say(f"stepping down: {lost.message}")

    def _new_watcher(self) -> Watcher:
        return Watcher(
            self.runtime, runner=self.runs, on_change=self.on_change, fence=self._check_lease
        )

    def _check_lease(self) -> None:
        """Before a service's turn of a cycle acts: FencedError unless the lease is valid."""
        if self.leadership is not None:
            self.leadership.check()

    def _lease_times(self) -> tuple[float, float]:
        state = self.runtime.config.state
        return state.lease.total_seconds(), state.lease_renew.total_seconds()

    def _say_how_it_ended(self, result: RunResult) -> None:
        """A person watching saw the run start ("rolling back (run 3, …)"): say how it ended."""
        if result.state is not RunState.RUNNING and self.on_change is not None:
            self.on_change(f"run {result.run_id}: {result.message}")

    def _say(self, sentence: str) -> None:
        log.info("%s", sentence)
        if self.on_change is not None:
            self.on_change(sentence)

    def run_forever(self) -> None:
        """Turn until `stop()`; an unexpected crash of a turn is logged and the loop goes on."""
        interval = self.runtime.config.watch.interval.total_seconds()
        if notifies(self.runtime.config):
            self.notifications.start()
        while not self._stop.is_set():
            try:
                self.cycle()
            except Exception:
                log.exception("a controller cycle crashed; going on in %ss", interval)
            self._stop.wait(interval)

    def start(self) -> None:
        """Run the loop in a thread of its own (beside the API server)."""
        self._loop = threading.Thread(target=self.run_forever, name="controller", daemon=True)
        self._loop.start()

    def wait_for_runs(self, timeout: float | None = None) -> list[RunResult]:
        return self.runs.wait(timeout)

    def request_stop(self) -> None:
        """Ask the loop and the runs to stop; returns at once (safe in a signal handler)."""
        self._stop.set()

    def stop(self, grace_s: float = 5.0) -> list[str]:
        """Stop turning and let runs end their step; says what was left for the next start."""
        self._stop.set()
        deadline = time.monotonic() + grace_s
        if self._loop is not None and self._loop is not threading.current_thread():
            self._loop.join(max(0.0, deadline - time.monotonic()))
        results = self.runs.wait(max(0.0, deadline - time.monotonic()))
        # A notification being sent is finished and recorded, not left `sending` to be sent
        # again by the next controller once its claim lapses.
        self.notifications.join(max(0.0, deadline - time.monotonic()))
        left = [f"run {r.run_id}: {r.message}" for r in results if r.state is RunState.RUNNING] + [
            f"run {run_id} is mid-step: the step is left running in the store, and is observed, "
            "then finished, when a controller starts again (backout watch, serve or resume)"
            for run_id in self.runs.going()
        ]
        for sentence in left:
            log.info("%s", sentence)  # the caller says it; a warning would say it twice
        self._let_go_of_the_watch()
        return left

    def _let_go_of_the_watch(self) -> None:
        """Free the watch lease at once, so that a standing-by controller leads at its next
        cycle instead of after the lease time."""
        keeper, self.leadership = self.leadership, None
        if keeper is None:
            return
        keeper.stop()
        with self.runtime.store.session() as session:
            release(session, keeper.grant)


def _lapsed(keeper: LeaseKeeper) -> FencedError:
    try:
        keeper.check()
    except FencedError as lapsed:
        return lapsed
    return FencedError(f"{keeper.grant.name}: the lease lapsed")  # pragma: no cover
