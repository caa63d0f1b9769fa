"""The Driver interface: how a service's versions are put live and taken down.

Guarantees every driver keeps (the contract suite in tests/drivers/ checks each of them):

Read-only, fast (under a second), never raising for a stopped service:
    current()   the version running now, or None when nothing runs.
    status()    a DriverStatus: running or not, which version, a human detail, and where a
                driver knows them its pid, port, url and start time as fields.

Idempotent, possibly slow (a build may take minutes; callers pass no timeout, steps do):
    prepare(release)  make `release` ready to start (check out, install, build) without
                      touching what runs now; preparing an already prepared release is cheap.
    deploy(release)   make `release` the one running: prepare it if needed, stop the current
                      version, start this one. Deploying the version already running is a
                      no-op. Returns once the new process has started; health is the health
                      step's business, not the driver's.
    stop()            stop whatever runs; stopping a stopped service is a no-op.

Optional:
    undo()      a platform's native rollback (`kubectl rollout undo`), when it has one.
    retire_previous()  remove what a deploy replaced but kept (docker keeps the old container),
                once the new version is verified; idempotent.

Errors: a driver raises DriverError (retryable when trying again can help, e.g. a port still
held by a dying process), translated from the platform's own exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class ReleaseRef:
    """What a driver needs to know of a release."""

    service: str
    version: str
    ref: str | None = None  # a git commit or tag, an image, an artifact path


class RunState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"  # it was started and has died


@dataclass(frozen=True)
class DriverStatus:
    state: RunState
    version: str | None
    detail: str
    pid: int | None = None  # the process, for drivers that run one
    port: int | None = None
    url: str | None = None  # where the service answers, when the driver knows
    started_at: str | None = None  # ISO 8601, UTC


@runtime_checkable
class Driver(Protocol):
    def current(self) -> str | None: ...

    def status(self) -> DriverStatus: ...

    def prepare(self, release: ReleaseRef) -> None: ...

    def deploy(self, release: ReleaseRef) -> None: ...

    def stop(self) -> None: ...


@runtime_checkable
class UndoCapable(Protocol):
    """A driver whose platform has a native rollback."""

    def undo(self) -> str: ...


@runtime_checkable
class RetireCapable(Protocol):
    """A driver that keeps the instance a deploy replaced until it is told to retire it."""

    def retire_previous(self) -> list[str]: ...


@runtime_checkable
class SlotCapable(Protocol):
    """A driver that can run two versions side by side, each in its own slot (a port), so a
    router can shift traffic between them (the two-slot application plan).

        deploy_beside(release)  start `release` in the idle slot, leaving the live one running;
                                returns the slot's port. Idempotent (a release already running
                                stays in its slot); DriverError when no slot is idle.
        retire(version)         stop the slot that runs `version`; a no-op when none does.
        port_of(version)        the port `version` runs on now, or None. Read-only, fast.
        slot_ports()            the ports of its slots; empty when this one is configured to
                                run one version at a time (then only port_of is meaningful).
    """

    def slot_ports(self) -> list[int]: ...

    def deploy_beside(self, release: ReleaseRef) -> int: ...

    def retire(self, version: str) -> None: ...

    def port_of(self, version: str) -> int | None: ...
