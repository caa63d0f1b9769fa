"""The `kubernetes` driver against a FAKE API server (tests/kubernetes_fake_api.py).

No real API server can run here; docs/platforms.md#kubernetes has the manual test on a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from driver_helpers import build_driver

from backout.drivers import Driver, ReleaseRef, UndoCapable
from backout.errors import DriverError
from tests.kubernetes_fake_api import REVISION, FakeKubeApi, write_kubeconfig

BACKEND, FRONTEND = "shop-backend", "shop-frontend"


def _driver(api: FakeKubeApi, tmp_path: Path, **overrides: Any) -> Driver:
    settings: dict[str, Any] = {
        "kubeconfig": str(write_kubeconfig(tmp_path / "kubeconfig", api.url)),
        "namespace": api.namespace,
        "deployments": [BACKEND, FRONTEND],
        "image": "registry.test/shop",
        "rollout_timeout": "5s",
        "replicas": 2,
    }
    settings.update(overrides)
    return build_driver("kubernetes", settings, tmp_path)


def _release(version: str) -> ReleaseRef:
    return ReleaseRef(service="web", version=version)


def _image(api: FakeKubeApi, name: str) -> str:
    image: str = api.deployments[name]["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


@pytest.fixture
def api(fake_kube_api: FakeKubeApi) -> FakeKubeApi:
    fake_kube_api.add_deployment(BACKEND, "registry.test/shop:0.9.0", replicas=2)
    fake_kube_api.add_deployment(FRONTEND, "registry.test/shop:0.9.0", replicas=2)
    return fake_kube_api


def test_fake_api_deploy_rolls_backend_and_frontend(api: FakeKubeApi, tmp_path: Path) -> None:
    driver = _driver(api, tmp_path)
    assert driver.current() == "0.9.0", "without the annotation the image tag is the version"
    driver.deploy(_release("1.0.0"))
    for name in (BACKEND, FRONTEND):
        assert _image(api, name) == "registry.test/shop:1.0.0"
        version, _, available = api.serving(name)
        assert (version, available) == ("1.0.0", True)
        assert api.deployments[name]["metadata"]["annotations"][REVISION] == "2"
    assert driver.current() == "1.0.0"
    status = driver.status()
    assert status.version == "1.0.0"
    assert f"{FRONTEND} 1.0.0 available 2/2" in status.detail


def test_fake_api_undo_returns_to_the_previous_revision(api: FakeKubeApi, tmp_path: Path) -> None:
    driver = _driver(api, tmp_path)
    assert isinstance(driver, UndoCapable)
    driver.deploy(_release("1.0.0"))
    first_replicaset = api.serving(BACKEND)[1]
    driver.deploy(_release("1.1.0"))
    assert driver.undo() == "1.0.0"
    for name in (BACKEND, FRONTEND):
        assert _image(api, name) == "registry.test/shop:1.0.0"
        assert api.deployments[name]["metadata"]["annotations"][REVISION] == "4"
    assert api.serving(BACKEND) == ("1.0.0", first_replicaset, True), "its ReplicaSet re-used"
    assert driver.undo() == "1.1.0", "undo of an undo goes forward again, as kubectl does"


def test_fake_api_undo_without_history_says_so(api: FakeKubeApi, tmp_path: Path) -> None:
    driver = _driver(api, tmp_path)
    assert isinstance(driver, UndoCapable)
    with pytest.raises(DriverError, match=f"deployment {BACKEND} has no revision before 1"):
        driver.undo()


def test_fake_api_rollout_deadline(api: FakeKubeApi, tmp_path: Path) -> None:
    api.bad_images.add("registry.test/shop:6.6.6")
    driver = _driver(api, tmp_path, rollout_timeout="1s")
    with pytest.raises(DriverError, match=rf"rollout of {BACKEND} not complete after 1 s") as info:
        driver.deploy(_release("6.6.6"))
    assert "(available 2/2)" in str(info.value), "the old pods stay available meanwhile"


def test_fake_api_deploy_waits_for_the_rollout(api: FakeKubeApi, tmp_path: Path) -> None:
    api.rollout_delay = 1.0
    driver = _driver(api, tmp_path)
    driver.deploy(_release("1.0.0"))
    for name in (BACKEND, FRONTEND):
        assert api.serving(name)[2], "deploy returns once the new pods are available"


def test_fake_api_missing_deployment_is_named(api: FakeKubeApi, tmp_path: Path) -> None:
    driver = _driver(api, tmp_path, deployments=["shop-nope"])
    with pytest.raises(DriverError, match="deployment shop-nope not found in namespace shop"):
        driver.current()


def test_fake_api_forbidden_patch_names_the_rbac(api: FakeKubeApi, tmp_path: Path) -> None:
    api.fail_next[("PATCH", BACKEND)] = 403
    with pytest.raises(DriverError) as info:
        _driver(api, tmp_path).deploy(_release("1.0.0"))
    assert "no permission to patch deployments in namespace shop" in str(info.value)
    assert info.value.hint is not None
    assert "get, patch" in info.value.hint
    assert not info.value.retryable


def test_fake_api_server_errors_are_retryable(api: FakeKubeApi, tmp_path: Path) -> None:
    api.fail_next[("GET", BACKEND)] = 503
    with pytest.raises(DriverError) as info:
        _driver(api, tmp_path).current()
    assert info.value.retryable


def test_an_unreachable_api_server_is_retryable(tmp_path: Path) -> None:
    unreachable = FakeKubeApi(url="http://127.0.0.1:9")  # the discard port: nothing listens
    driver = _driver(unreachable, tmp_path, request_timeout="1s")
    with pytest.raises(DriverError, match="cannot reach the Kubernetes API server") as info:
        driver.current()
    assert info.value.retryable
