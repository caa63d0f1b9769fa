"""Several `backout watch` processes on one state store, as on several machines: each has its own
node name (BACKOUT_NODE), so none can see whether another's process is alive — only leases
tell. Used by tests/controller/test_controllers_on_postgres.py and benchmarks/controllers.py.

Each service `svc0`, `svc1`, ... has 1.0.0 good and 1.1.0 live (the fake driver runs it), and
a rollback plan drain → deploy (slow: `deploy_delay`) → health (slow: a `sleep` command) →
restore traffic → mark release. A rollback is handed to the controllers as an orphaned run:
stored here, its lease let go, so the leader resumes it at its next cycle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from backout.drivers.base import ReleaseRef
from backout.operations.deploy import record_release
from backout.operations.rollback import RollbackRequest, start_rollback
from backout.releases import ReleaseStatus
from backout.runs.records import run_lease
from backout.runtime import Runtime
from backout.store import Deployment, Run, Step, TimelineEvent
from backout.store.leases import Grant, lease_state, release, this_process

BACKOUT = str(Path(sys.executable).with_name("backout"))
WATCH_LEASE = "watch:production"
DEPLOY, HEALTH = 2, 3  # positions in the plan


@dataclass
class Controller:
    node: str
    process: subprocess.Popen[bytes]
    out: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def said(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")


class Fleet:
    """A config, a seeded store, and the controller processes started on it."""

    def __init__(
        self,
        folder: Path,
        state_url: str,
        *,
        services: int = 1,
        lease: str = "10s",
        renew: str = "3s",
        interval: str = "200ms",
        deploy_delay: str = "2s",
        health_s: float = 2.0,
    ) -> None:
        self.folder = folder
        self.config = folder / "backout.yaml"
        self.services = [f"svc{n}" for n in range(services)]
        self.controllers: list[Controller] = []
        service = {
            "tier": "core",
            "driver": {"type": "fake", "deploy_delay": deploy_delay},
            "router": {"type": "fake"},
            "health": [{"type": "command", "command": ["sleep", f"{health_s:g}"]}],
            "health_timeout": "60s",
            "monitor": "0s",
            "traffic_hold": "0s",
            "bake_time": "0s",
        }
        config = {
            "project": "controllers",
            "state": {
                "database": state_url,
                "directory": ".backout",
                "lease": lease,
                "lease_renew": renew,
            },
            "watch": {"interval": interval},
            "services": dict.fromkeys(self.services, service),
        }
        self.config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.runtime = Runtime.open(self.config)
        self.lease_s = self.runtime.config.state.lease.total_seconds()
        self.interval_s = self.runtime.config.watch.interval.total_seconds()
        self._seed()

    def _seed(self) -> None:
        for name in self.services:
            for version, status in (("1.0.0", ReleaseStatus.GOOD), ("1.1.0", ReleaseStatus.LIVE)):
                record_release(
                    self.runtime, name, version, ref=f"v{version}", actor="ci", status=status
                )
            self.runtime.driver(name).deploy(ReleaseRef(name, "1.1.0", "v1.1.0"))
            self.runtime.router(name).set_share("1.1.0", 100)

    # --- the controllers -------------------------------------------------------------------

    def start(self, node: str, *, failpoints: str | None = None) -> Controller:
        out = self.folder / f"{node}.out"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKOUT_")}
        env |= {
            "BACKOUT_NODE": node,
            "BACKOUT_ACTOR": f"controller@{node}",
            "COLUMNS": "200",
            "PYTHONUNBUFFERED": "1",
        }
        if failpoints:
            env["BACKOUT_FAILPOINTS"] = failpoints
        with out.open("wb") as sink:
            process = subprocess.Popen(
                [BACKOUT, "watch", "--config", str(self.config)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.folder,
            )
        controller = Controller(node, process, out)
        self.controllers.append(controller)
        return controller

    def by_holder(self, holder: str | None) -> Controller | None:
        """The controller whose process holds a lease (`node:pid:ticks`)."""
        if holder is None:
            return None
        node, pid = holder.split(":")[:2]
        return next((c for c in self.controllers if c.node == node and str(c.pid) == pid), None)

    def other_than(self, controller: Controller, holder: str | None) -> Controller | None:
        """The controller holding a lease, if it is not `controller`."""
        found = self.by_holder(holder)
        return found if found is not controller else None

    def holder(self, lease: str) -> str | None:
        with self.runtime.store.session() as session:
            state = lease_state(session, lease)
        return state.holder if state is not None and state.remaining_s > 0 else None

    def leader(self) -> Controller | None:
        return self.by_holder(self.holder(WATCH_LEASE))

    def alive(self) -> list[Controller]:
        return [c for c in self.controllers if c.process.poll() is None]

    def close(self) -> None:
        for controller in self.controllers:
            if controller.process.poll() is None:
                os.kill(controller.pid, signal.SIGCONT)  # a stopped process dies only once woken
                controller.process.kill()
            controller.process.wait(timeout=30)
        self.runtime.close()

    # --- the runs --------------------------------------------------------------------------

    def orphaned_rollback(self, service: str) -> int:
        """A rollback stored here and let go: the leading controller takes it at its next cycle."""
        run_id = start_rollback(self.runtime, RollbackRequest(service), actor="tester").run_id
        with self.runtime.store.session() as session:
            release(session, Grant(run_lease(run_id), this_process(), 1))
        return run_id

    def run_state(self, run_id: int) -> str:
        with self.runtime.store.session() as session:
            run = session.get(Run, run_id)
            assert run is not None
            return run.state

    def step(self, run_id: int, position: int) -> tuple[str, int, str | None]:
        """(state, attempts, message) of a step."""
        with self.runtime.store.session() as session:
            step = session.scalars(
                select(Step).where(Step.run_id == run_id, Step.position == position)
            ).one()
            return step.state, step.attempts, step.message

    def deploys(self, service: str) -> int:
        """Deploys the fake driver did: the seed's, then one per rollback that took effect."""
        path = self.folder / ".backout" / "drivers" / service / "fake.json"
        count: int = json.loads(path.read_text(encoding="utf-8"))["deploys"]
        return count

    def records(self, run_id: int) -> dict[str, Any]:
        """Everything the store holds of a run, to compare before and after."""
        with self.runtime.store.session() as session:
            steps = session.scalars(select(Step).where(Step.run_id == run_id)).all()
            events = session.scalars(
                select(TimelineEvent.kind).where(TimelineEvent.run_id == run_id)
            ).all()
            run = session.get(Run, run_id)
            assert run is not None
            return {
                "run": (run.state, run.error, run.finished_at),
                "steps": sorted((s.position, s.state, s.attempts, s.message) for s in steps),
                "events": list(events),
                "deployments": session.scalar(
                    select(func.count()).where(Deployment.run_id == run_id)
                ),
            }

    def duplicate_records(self, run_id: int) -> int:
        """Records only a second, fenced writer could have made: a step finished twice on the
        timeline, a release put live twice by one run."""
        records = self.records(run_id)
        finishes = [e for e in records["events"] if e in ("step_succeeded", "step_skipped")]
        steps = len(records["steps"])
        return max(0, len(finishes) - steps) + max(0, int(records["deployments"]) - 1)


def wait_until(condition: Callable[[], Any], what: str, timeout_s: float) -> Any:
    """Poll the store (every 20 ms) until `condition()` is truthy; its value. TimeoutError names
    `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:g}s waiting for: {what}")
        time.sleep(0.02)
