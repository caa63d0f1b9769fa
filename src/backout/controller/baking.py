"""Baking: a live release becomes good only for what the watch loop itself watched.

A bake starts at the first cycle that sees a release live and goes on while the loop keeps
watching it. Time that passed with no loop running is not a bake: a release deployed while no
`backout watch` / `backout serve` ran starts baking when one starts. The bake restarts when

- the loop did not look at the release for longer than `GAP_INTERVALS` watch (or probe)
  intervals, and at least `MIN_GAP` — it was stopped, or stuck — or
- its metric source brought no new sample for that long (a dead probe is no evidence).

A release is baked when the bake has lasted `bake_time`, the loop looked at it just now, and
its source holds at least `MIN_BAKE_SAMPLES` samples taken since the bake started. The baseline
kept on the release is measured from those samples only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backout.metrics import MetricSource, MetricsSnapshot

GAP_INTERVALS = 3
MIN_GAP = timedelta(seconds=1)  # a loop of 100 ms may hiccup (a busy machine) without restarting
MIN_BAKE_SAMPLES = 20


@dataclass
class Bake:
    """How long the watch loop has watched one live release, without a gap."""

    release_id: int
    started_at: datetime
    looked_at: datetime  # the last cycle that saw it
    sampled_at: datetime  # the last cycle that found a new sample of it
    restarted_because: str | None = None  # what ended the previous bake of this release

    def elapsed(self, now: datetime) -> timedelta:
        return now - self.started_at


@dataclass(frozen=True)
class BakeProgress:
    """Where a bake stands at one cycle: the watch sentence's tail, and whether it is done."""

    bake: Bake
    bake_time: timedelta
    samples: MetricsSnapshot  # the samples taken since the bake started
    now: datetime

    @property
    def baked(self) -> bool:
        return (
            self.bake.elapsed(self.now) >= self.bake_time
            and self.samples.samples >= MIN_BAKE_SAMPLES
        )

    def sentence(self) -> str:
        """'baking 4s of 10s (80 samples)', or what still holds the release back."""
        elapsed = self.bake.elapsed(self.now).total_seconds()
        text = f"baking {elapsed:.0f}s of {self.bake_time.total_seconds():g}s"
        if elapsed >= self.bake_time.total_seconds():
            text += f", waiting for {MIN_BAKE_SAMPLES} samples ({self.samples.samples} so far)"
        else:
            text += f" ({self.samples.samples} samples)"
        if self.bake.restarted_because:
            text += f"; restarted: {self.bake.restarted_because}"
        return text


class BakeTracker:
    """The bakes of one watch loop, by service; kept in memory, so a new loop starts afresh."""

    def __init__(self) -> None:
        self._bakes: dict[str, Bake] = {}

    def forget(self, service: str) -> None:
        """A run of the service began: what was watched before it is no evidence after it."""
        self._bakes.pop(service, None)

    def watch(
        self,
        service: str,
        release_id: int,
        source: MetricSource,
        *,
        version: str,
        now: datetime,
        max_gap: timedelta,
        bake_time: timedelta,
    ) -> BakeProgress:
        """Note that the loop looks at `release_id` now; return where its bake stands."""
        bake = self._bakes.get(service)
        if bake is None or bake.release_id != release_id:
            bake = self._bakes[service] = Bake(release_id, now, now, now)
        else:
            if source.snapshot(since=bake.sampled_at.timestamp(), version=version).samples > 0:
                bake.sampled_at = now
            gap = _gap(bake, now, max_gap)
            if gap is not None:
                bake = self._bakes[service] = Bake(release_id, now, now, now, gap)
            bake.looked_at = now
        samples = source.snapshot(since=bake.started_at.timestamp(), version=version)
        return BakeProgress(bake, bake_time, samples, now)


def _gap(bake: Bake, now: datetime, max_gap: timedelta) -> str | None:
    """Why the bake cannot go on, if the loop or the samples stopped for longer than allowed."""
    if now - bake.looked_at > max_gap:
        return f"not watched for {(now - bake.looked_at).total_seconds():.0f}s"
    if now - bake.sampled_at > max_gap:
        return f"no new sample for {(now - bake.sampled_at).total_seconds():.0f}s"
    return None
