"""Drivers: how a service's versions are put live. Picked by `driver.type` in config."""

from backout.drivers._pids import reap_exited_children
from backout.drivers.base import (
    Driver,
    DriverStatus,
    ReleaseRef,
    RetireCapable,
    RunState,
    SlotCapable,
    UndoCapable,
)
from backout.registry import Registry

# Lazily: a command imports only the drivers its config uses.
DRIVERS: Registry[Driver] = Registry("driver")
DRIVERS.register_lazy("fake", "backout.drivers.fake", "FakeDriverSettings", "FakeDriver")
DRIVERS.register_lazy("process", "backout.drivers.process", "ProcessSettings", "ProcessDriver")
DRIVERS.register_lazy(
    "git-build", "backout.drivers.git_build", "GitBuildSettings", "GitBuildDriver"
)
DRIVERS.register_lazy("pm2", "backout.drivers.pm2", "Pm2Settings", "Pm2Driver")
DRIVERS.register_lazy("docker", "backout.drivers.docker", "DockerSettings", "DockerDriver")
DRIVERS.register_lazy(
    "static-s3", "backout.drivers.static_s3", "StaticS3Settings", "StaticS3Driver"
)
DRIVERS.register_lazy("ecs", "backout.drivers.ecs", "EcsSettings", "EcsDriver")
DRIVERS.register_lazy(
    "kubernetes", "backout.drivers.kubernetes", "KubernetesSettings", "KubernetesDriver"
)

__all__ = [
    "DRIVERS",
    "Driver",
    "DriverStatus",
    "ReleaseRef",
    "RetireCapable",
    "RunState",
    "SlotCapable",
    "UndoCapable",
    "reap_exited_children",
]
