"""Drivers: how a service's versions are put live. Picked by `driver.type` in config."""

from backout.drivers.base import Driver, DriverStatus, ReleaseRef, RunState, UndoCapable
from backout.drivers.fake import FakeDriver, FakeDriverSettings
from backout.drivers.git_build import GitBuildDriver, GitBuildSettings
from backout.drivers.process import ProcessDriver, ProcessSettings
from backout.registry import Registry

DRIVERS: Registry[Driver] = Registry("driver")
DRIVERS.register("fake", FakeDriverSettings, FakeDriver)
DRIVERS.register("process", ProcessSettings, ProcessDriver)
DRIVERS.register("git-build", GitBuildSettings, GitBuildDriver)

__all__ = ["DRIVERS", "Driver", "DriverStatus", "ReleaseRef", "RunState", "UndoCapable"]
