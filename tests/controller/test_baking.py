"""A release is good only for what the watch loop watched: a whole bake_time of cycles, with no
gap, on enough samples, and its baseline measured from those samples only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from backout import releases
from backout.clock import ManualClock
from backout.controller import watch as watch_module
from backout.controller.baking import MIN_BAKE_SAMPLES
from backout.controller.watch import Watcher
from backout.metrics import FakeMetricHub, FakeMetricSource, MetricsSnapshot
from backout.metrics.probe import Sample, summarise
from backout.operations.deploy import deploy
from backout.releases import ReleaseStatus
from backout.runs.records import RunState
from backout.runtime import Runtime
from backout.store import Run, SubjectLock

BAKE_S = 10
WINDOW_S = 30.0


class SampledSource(FakeMetricSource):
    """A probe's sliding window on the manual clock: the test says when requests were sent."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock
        self.samples: list[Sample] = []

    def send(self, count: int, *, latency_s: float = 0.010, ok: bool = True) -> None:
        """`count` requests spread over the next second, which then passes."""
        start = self.clock.now().timestamp()
        self.samples += [Sample(start + i / count, ok, latency_s) for i in range(count)]
        self.clock.advance(1)

    def snapshot(
        self, since: float | None = None, *, version: str | None = None
    ) -> MetricsSnapshot:
        now = self.clock.now().timestamp()
        start = max(now - WINDOW_S, since or 0.0)
        return summarise([s for s in self.samples if start <= s.at <= now], now - start)


class World:
    def __init__(self, tmp_path: Path) -> None:
        # An hour behind the wall clock: whatever backout stamps must come from the runtime's
        # clock, or the bake would compare moments of two clocks.
        self.clock = ManualClock(start=datetime.now(UTC) - timedelta(hours=1))
        self.source = SampledSource(self.clock)
        service = {
            "tier": "critical",
            "driver": {"type": "fake"},
            "router": {"type": "fake"},
            "triggers": [{"name": "errors", "metric": "error_rate", "above": 0.05, "for": "1s"}],
            "health": [{"type": "command", "command": "true"}],
            "policy": "rollback",
            "bake_time": f"{BAKE_S}s",
        }
        config = tmp_path / "backout.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "project": "bake-test",
                    "state": {"database": "sqlite:///state.db", "directory": ".backout"},
                    "watch": {"interval": "1s"},
                    "services": {"api": service},
                }
            )
        )
        self.runtime = Runtime.open(
            config, clock=self.clock, metrics=FakeMetricHub({"api": self.source})
        )
        self.watcher = Watcher(self.runtime)

    def deploy(self, version: str) -> None:
        result = deploy(self.runtime, "api", version, ref=None, actor="test")
        assert result.state is RunState.SUCCEEDED, result.message

    def watch(self, seconds: int, per_second: int = 20, latency_s: float = 0.010) -> list[str]:
        """The loop runs once a second while the probe sends `per_second` requests."""
        decisions = []
        for _ in range(seconds):
            self.source.send(per_second, latency_s=latency_s)
            decisions.append(self.watcher.run_cycle()[0])
        return decisions

    def release(self, version: str = "1.0.0") -> releases.Release:
        with self.runtime.store.session() as session:
            release = releases.find(session, "production", "api", version)
            session.expunge(release)
            return release


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path)
    yield built
    built.runtime.close()


def test_time_live_with_no_watch_loop_running_does_not_count_as_baking(world: World) -> None:
    world.deploy("1.0.0")
    world.source.send(20)
    world.clock.advance(3600)  # an hour live, with no loop watching
    world.source.send(7)  # the loop starts: its probe's first requests

    first = world.watcher.run_cycle()[0]

    assert first == (
        "api 1.0.0: healthy (errors 0.0%, p95 10ms, 7 requests), baking 0s of 10s (0 samples)"
    )
    assert world.release().status == ReleaseStatus.LIVE


def test_a_release_is_good_once_watched_for_its_whole_bake_time(world: World) -> None:
    world.deploy("1.0.0")

    decisions = world.watch(BAKE_S + 1)

    assert decisions[0].endswith("baking 0s of 10s (0 samples)")
    assert decisions[BAKE_S - 1].endswith("baking 9s of 10s (180 samples)")
    assert decisions[BAKE_S] == (
        "api 1.0.0: baked 10s with no trigger, marked good (baseline errors 0.0%, p95 10ms, "
        "200 requests)"
    )
    release = world.release()
    assert release.status == ReleaseStatus.GOOD
    assert release.status_reason == "watched 10s (200 samples) with no trigger firing"


def test_a_gap_in_the_watch_restarts_the_bake(world: World) -> None:
    world.deploy("1.0.0")
    world.watch(BAKE_S - 2)
    world.source.send(20)
    world.clock.advance(4)  # the loop stopped for longer than 3 intervals; the probe went on

    decisions = world.watch(BAKE_S)

    assert decisions[0].endswith("baking 0s of 10s (0 samples); restarted: not watched for 6s")
    assert world.release().status == ReleaseStatus.LIVE
    assert world.watch(1)[0].startswith("api 1.0.0: baked 10s with no trigger, marked good")


def test_a_probe_that_sends_nothing_new_restarts_the_bake(world: World) -> None:
    world.deploy("1.0.0")
    world.watch(5)

    quiet = []
    for _ in range(4):  # the loop goes on; the probe sends nothing
        world.clock.advance(1)
        quiet.append(world.watcher.run_cycle()[0])

    assert quiet[2].endswith("baking 7s of 10s (80 samples)")
    assert quiet[3].endswith("baking 0s of 10s (0 samples); restarted: no new sample for 4s")
    assert world.watch(BAKE_S - 1)[-1].endswith(
        "baking 9s of 10s (180 samples); restarted: no new sample for 4s"
    )
    assert world.release().status == ReleaseStatus.LIVE


def test_too_few_samples_hold_a_baked_release_back(world: World) -> None:
    world.deploy("1.0.0")

    decisions = world.watch(BAKE_S + 3, per_second=1)

    assert decisions[BAKE_S].endswith(
        f"baking 10s of 10s, waiting for {MIN_BAKE_SAMPLES} samples (10 so far)"
    )
    world.watch(MIN_BAKE_SAMPLES - (BAKE_S + 3), per_second=1)
    assert world.release().status == ReleaseStatus.LIVE
    world.watch(1, per_second=1)
    assert world.release().status == ReleaseStatus.GOOD


def test_the_baseline_is_measured_from_the_watched_samples_only(world: World) -> None:
    world.deploy("1.0.0")
    world.source.send(5, latency_s=0.900)  # before the loop: slow, and few
    world.clock.advance(2)

    world.watch(BAKE_S + 1, per_second=20, latency_s=0.010)

    baseline = world.release().baseline
    assert baseline is not None
    assert baseline["latency_p95"] == pytest.approx(0.010)
    assert baseline["request_rate"] == pytest.approx(20.0)


def test_a_release_a_run_took_during_the_cycle_is_not_marked_good(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.deploy("1.0.0")
    world.watch(BAKE_S)  # one more cycle bakes it
    read_facts = watch_module.read_cycle_facts

    def a_run_takes_the_service_once_the_facts_are_read(session: Session, env: str) -> object:
        facts = read_facts(session, env)
        with world.runtime.store.session() as other:  # another process's rollback, meanwhile
            run = Run(
                environment=env,
                kind="application",
                service="api",
                reason="r",
                state="running",
                actor="ic",
            )
            other.add(run)
            other.flush()
            other.add(
                SubjectLock(
                    environment=env, subject_kind="service", subject_name="api", run_id=run.id
                )
            )
        return facts

    monkeypatch.setattr(
        watch_module, "read_cycle_facts", a_run_takes_the_service_once_the_facts_are_read
    )
    world.source.send(20)

    [decision] = world.watcher.run_cycle()

    assert decision.startswith("api 1.0.0: baked, but not marked good: run "), decision
    assert world.release().status == ReleaseStatus.LIVE
