"""The `fake` driver's own knobs: failing versions and a slow deploy, for tests of the steps."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from driver_helpers import build_driver

from backout.drivers import ReleaseRef
from backout.drivers.fake import FakeDriver
from backout.errors import DriverError


@pytest.mark.parametrize("retryable", [True, False])
def test_a_failing_version_raises_and_leaves_what_runs(tmp_path: Path, retryable: bool) -> None:
    settings = {"fail_versions": ["1.1.0"], "fail_retryable": retryable}
    driver = build_driver("fake", settings, tmp_path)
    driver.deploy(ReleaseRef("web", "1.0.0"))
    with pytest.raises(DriverError, match=r"1\.1\.0") as raised:
        driver.deploy(ReleaseRef("web", "1.1.0"))
    assert raised.value.retryable is retryable
    assert driver.current() == "1.0.0"


def test_a_deploy_takes_deploy_delay(tmp_path: Path) -> None:
    driver = build_driver("fake", {"deploy_delay": "200ms"}, tmp_path)
    started = time.monotonic()
    driver.deploy(ReleaseRef("web", "1.0.0"))
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    driver.deploy(ReleaseRef("web", "1.0.0"))
    assert time.monotonic() - started < 0.2, "a no-op deploy does not wait"


def test_it_remembers_what_was_prepared(tmp_path: Path) -> None:
    driver = build_driver("fake", {}, tmp_path)
    assert isinstance(driver, FakeDriver)
    driver.prepare(ReleaseRef("web", "1.1.0"))
    driver.deploy(ReleaseRef("web", "1.0.0"))
    assert driver.prepared() == ["1.1.0", "1.0.0"]
    assert driver.current() == "1.0.0"
