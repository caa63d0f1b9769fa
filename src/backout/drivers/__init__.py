"""Drivers: how a service's versions are put live. Picked by `driver.type` in config."""

from backout.drivers.base import Driver, DriverStatus, ReleaseRef, RunState, UndoCapable
from backout.registry import Registry

# Lazily: a command imports only the drivers its config uses.
DRIVERS: Registry[Driver] = Registry("driver")
DRIVERS.register_lazy("fake", "backout.drivers.fake", "FakeDriverSettings", "FakeDriver")
DRIVERS.register_lazy("process", "backout.drivers.process", "ProcessSettings", "ProcessDriver")
DRIVERS.register_lazy(
    "git-build", "backout.drivers.git_build", "GitBuildSettings", "GitBuildDriver"
)
DRIVERS.register_lazy(
    "kubernetes", "backout.drivers.kubernetes", "KubernetesSettings", "KubernetesDriver"
)

__all__ = ["DRIVERS", "Driver", "DriverStatus", "ReleaseRef", "RunState", "UndoCapable"]
