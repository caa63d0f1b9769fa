"""The `fake` driver's own knobs: failing versions and a slow deploy, for tests of the steps."""

from __future__ import annotations

import threading
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
    driver = build_driver("fake", {"deploy_delay": "1s"}, tmp_path)
    started = time.monotonic()
    driver.deploy(ReleaseRef("web", "1.0.0"))
    assert time.monotonic() - started >= 1.0
    started = time.monotonic()
    driver.deploy(ReleaseRef("web", "1.0.0"))
    assert time.monotonic() - started < 0.5, "a no-op deploy does not wait"


def test_a_deploy_holds_until_its_file_exists(tmp_path: Path) -> None:
    driver = build_driver("fake", {"hold_until": "go"}, tmp_path)
    deploying = threading.Thread(target=driver.deploy, args=(ReleaseRef("web", "1.0.0"),))
    deploying.start()
    try:
        deploying.join(timeout=0.3)
        assert deploying.is_alive(), "still deploying: the file is not there"
        assert driver.current() is None
    finally:
        (tmp_path / "go").touch()  # the file is relative to the config file's folder
        deploying.join(timeout=10)
    assert not deploying.is_alive()
    assert driver.current() == "1.0.0"


def test_a_deploy_held_past_hold_timeout_fails_and_changes_nothing(tmp_path: Path) -> None:
    driver = build_driver("fake", {"hold_until": "go", "hold_timeout": "100ms"}, tmp_path)
    with pytest.raises(DriverError, match=r"waited 100ms for .*go \(hold_until\)"):
        driver.deploy(ReleaseRef("web", "1.0.0"))
    assert driver.current() is None


def test_it_remembers_what_was_prepared(tmp_path: Path) -> None:
    driver = build_driver("fake", {}, tmp_path)
    assert isinstance(driver, FakeDriver)
    driver.prepare(ReleaseRef("web", "1.1.0"))
    driver.deploy(ReleaseRef("web", "1.0.0"))
    assert driver.prepared() == ["1.1.0", "1.0.0"]
    assert driver.current() == "1.0.0"
