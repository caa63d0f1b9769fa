"""The sample Badminton Group app that `backout quickstart`, drills and tests roll back."""

from backout.demo.repo import (
    BAD_VERSION,
    BUILD_COMMANDS,
    DATABASE_ENV,
    EXTRA_LATENCY_ENV,
    FAULT_RATE_ENV,
    GOOD_VERSION,
    HEALTH_PATH,
    INSTALL_COMMANDS,
    PROBE_PATH,
    START_COMMAND,
    TAGS,
    TEMPLATE_DIR,
    DemoRepo,
    create_demo_repo,
)

__all__ = [
    "BAD_VERSION",
    "BUILD_COMMANDS",
    "DATABASE_ENV",
    "EXTRA_LATENCY_ENV",
    "FAULT_RATE_ENV",
    "GOOD_VERSION",
    "HEALTH_PATH",
    "INSTALL_COMMANDS",
    "PROBE_PATH",
    "START_COMMAND",
    "TAGS",
    "TEMPLATE_DIR",
    "DemoRepo",
    "create_demo_repo",
]
