"""The `kubernetes` driver: a service is one or more Deployments, rolled with the official client.

    driver:
      type: kubernetes
      kubeconfig: ~/.kube/config   # optional; in-cluster service account otherwise
      context: prod                # optional; the kubeconfig's current context otherwise
      namespace: shop
      deployments: [shop-backend, shop-frontend]
      container: app               # optional; the first container otherwise
      image: registry.example.com/shop   # release version (or ref) -> the image tag
      replicas: 2                  # when deploying to a deployment scaled to 0
      rollout_timeout: 5m

The version is the pod template's annotation `backout.io/version` (set by deploy), else the
image's tag. undo() is `kubectl rollout undo`: the template of the previous revision's
ReplicaSet is put back. Nothing is written locally.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import Field
from urllib3.exceptions import HTTPError

from backout.drivers.base import DriverStatus, ReleaseRef, RunState
from backout.durations import PositiveDuration
from backout.errors import ConfigError, DriverError
from backout.registry import PluginContext, PluginSettings

VERSION_ANNOTATION = "backout.io/version"
REPLICAS_ANNOTATION = "backout.io/replicas"  # what stop() scaled down from
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
RBAC_NEEDED = (
    "a Role in the namespace with apps/deployments: get, patch and apps/replicasets: list "
    "(see docs/platforms.md#kubernetes)"
)
_POLL_SECONDS = 0.2
T = TypeVar("T")


class KubernetesSettings(PluginSettings):
    kubeconfig: str | None = Field(None, description="Kubeconfig file; in-cluster when unset.")
    context: str | None = Field(None, description="Kubeconfig context; its current one if unset.")
    namespace: str = Field("default", description="Namespace of the deployments.")
    deployments: list[str] = Field(
        min_length=1, description="Deployments rolled together, e.g. backend and frontend."
    )
    container: str | None = Field(None, description="Container whose image is set; the first.")
    image: str = Field(description="Image repository; a release's version (or ref) is its tag.")
    replicas: int = Field(1, ge=1, description="Replicas when deploying to a stopped deployment.")
    rollout_timeout: PositiveDuration = Field(
        timedelta(minutes=5), description="Wait for a rollout."
    )
    request_timeout: PositiveDuration = Field(timedelta(seconds=10), description="Per API request.")


class KubernetesDriver:
    """Rolls the configured deployments to a release's image and back."""

    def __init__(self, settings: KubernetesSettings, context: PluginContext) -> None:
        self._settings = settings
        self._context = context
        self._api_client: Any = None  # made on first use: building a driver touches nothing

    # --- reading -------------------------------------------------------------------------

    def current(self) -> str | None:
        deployment = self._read(self._settings.deployments[0])
        if not deployment.spec.replicas:
            return None
        return self._version_of(deployment.spec.template)

    def status(self) -> DriverStatus:
        details, versions, running = [], set(), False
        for name in self._settings.deployments:
            deployment = self._read(name)
            replicas = deployment.spec.replicas or 0
            available = deployment.status.available_replicas or 0
            version = self._version_of(deployment.spec.template)
            running = running or replicas > 0
            versions.add(version if replicas else None)
            details.append(f"{name} {version} available {available}/{replicas}")
        version = versions.pop() if len(versions) == 1 else None
        state = RunState.RUNNING if running else RunState.STOPPED
        return DriverStatus(
            state, version if running else None, "kubernetes: " + "; ".join(details)
        )

    # --- changing ------------------------------------------------------------------------

    def prepare(self, release: ReleaseRef) -> None:
        """Nothing to do: the cluster pulls the image when the template changes."""

    def deploy(self, release: ReleaseRef) -> None:
        image = self._image_for(release)
        for name in self._settings.deployments:
            deployment = self._read(name)
            container = self._container(deployment)
            if deployment.spec.replicas and container.image == image:
                continue
            replicas = deployment.spec.replicas or self._scaled_down_from(deployment)
            patch = {
                "spec": {
                    "replicas": replicas,
                    "template": {
                        "metadata": {"annotations": {VERSION_ANNOTATION: release.version}},
                        "spec": {"containers": [{"name": container.name, "image": image}]},
                    },
                }
            }
            self._patch(name, patch)
        self._wait_for_rollouts()

    def stop(self) -> None:
        for name in self._settings.deployments:
            deployment = self._read(name)
            if deployment.spec.replicas:
                annotations = {REPLICAS_ANNOTATION: str(deployment.spec.replicas)}
                self._patch(
                    name, {"metadata": {"annotations": annotations}, "spec": {"replicas": 0}}
                )

    def undo(self) -> str:
        """`kubectl rollout undo` of every deployment; returns the version now current."""
        for name in self._settings.deployments:
            deployment = self._read(name)
            template = self._previous_template(deployment)
            template["metadata"].get("labels", {}).pop("pod-template-hash", None)
            self._patch(name, [{"op": "replace", "path": "/spec/template", "value": template}])
        self._wait_for_rollouts()
        version = self.current()
        return version or "none"

    # --- helpers -------------------------------------------------------------------------

    def _image_for(self, release: ReleaseRef) -> str:
        if release.ref and (":" in release.ref or "@" in release.ref):
            return release.ref  # a whole image reference
        return f"{self._settings.image}:{release.ref or release.version}"

    def _version_of(self, template: Any) -> str | None:
        annotations = template.metadata.annotations or {}
        if VERSION_ANNOTATION in annotations:
            return str(annotations[VERSION_ANNOTATION])
        image = self._container_of(template).image or ""
        return image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else None

    def _container(self, deployment: Any) -> Any:
        return self._container_of(deployment.spec.template)

    def _container_of(self, template: Any) -> Any:
        containers = template.spec.containers
        wanted = self._settings.container
        if wanted is None:
            return containers[0]
        for container in containers:
            if container.name == wanted:
                return container
        raise DriverError(
            f"no container {wanted!r} in the pod template (has {[c.name for c in containers]})",
            hint="set driver.container to one of them",
        )

    def _scaled_down_from(self, deployment: Any) -> int:
        annotations = deployment.metadata.annotations or {}
        return int(annotations.get(REPLICAS_ANNOTATION, self._settings.replicas))

    def _previous_template(self, deployment: Any) -> dict[str, Any]:
        name = deployment.metadata.name
        current = int((deployment.metadata.annotations or {}).get(REVISION_ANNOTATION, "0"))
        selector = ",".join(f"{k}={v}" for k, v in deployment.spec.selector.match_labels.items())
        listing = self._call(
            name,
            "list replicasets",
            lambda: self._apps().list_namespaced_replica_set(
                self._settings.namespace, label_selector=selector, **self._timeout()
            ),
        )
        older = [
            (int((rs.metadata.annotations or {}).get(REVISION_ANNOTATION, "0")), rs)
            for rs in listing.items
            if any(owner.name == name for owner in rs.metadata.owner_references or [])
        ]
        older = [(revision, rs) for revision, rs in older if revision < current]
        if not older:
            raise DriverError(f"deployment {name} has no revision before {current} to undo to")
        _, previous = max(older, key=lambda pair: pair[0])
        template: dict[str, Any] = self._client().sanitize_for_serialization(previous.spec.template)
        return template

    def _wait_for_rollouts(self) -> None:
        timeout = self._settings.rollout_timeout.total_seconds()
        deadline = time.monotonic() + timeout
        for name in self._settings.deployments:
            while True:
                deployment = self._read(name)
                if _rolled_out(deployment):
                    break
                if time.monotonic() >= deadline:
                    available = deployment.status.available_replicas or 0
                    raise DriverError(
                        f"rollout of {name} not complete after {timeout:g} s "
                        f"(available {available}/{deployment.spec.replicas})",
                        hint=f"kubectl -n {self._settings.namespace} rollout status deploy/{name}",
                    )
                time.sleep(_POLL_SECONDS)

    def _read(self, name: str) -> Any:
        namespace = self._settings.namespace
        return self._call(
            name,
            "get deployments",
            lambda: self._apps().read_namespaced_deployment(name, namespace, **self._timeout()),
        )

    def _patch(self, name: str, body: Any) -> None:
        namespace = self._settings.namespace
        self._call(
            name,
            "patch deployments",
            lambda: self._apps().patch_namespaced_deployment(
                name, namespace, body, **self._timeout()
            ),
        )

    def _timeout(self) -> dict[str, float]:
        return {"_request_timeout": self._settings.request_timeout.total_seconds()}

    def _call(self, name: str, action: str, request: Callable[[], T]) -> T:
        """Run one API request, its failures translated to DriverError."""
        namespace = self._settings.namespace
        try:
            return request()
        except ApiException as error:
            raise _translated(error, name, action, namespace) from None
        except HTTPError as error:
            raise DriverError(
                f"cannot reach the Kubernetes API server: {error}", retryable=True
            ) from None

    def _apps(self) -> Any:
        return client.AppsV1Api(self._client())

    def _client(self) -> Any:
        if self._api_client is None:
            self._api_client = self._load_client()
        return self._api_client

    def _load_client(self) -> Any:
        settings = self._settings
        try:
            if settings.kubeconfig is None:
                configuration = client.Configuration()
                # The client's config loaders are its only untyped functions.
                config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
                return client.ApiClient(configuration)
            path = str(self._context.resolve(settings.kubeconfig))
            return config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=path, context=settings.context
            )
        except (config.ConfigException, OSError) as error:
            key = "kubeconfig" if settings.kubeconfig else "kubeconfig (unset: in-cluster)"
            raise ConfigError(str(self._context.config_file), [f"driver.{key}: {error}"]) from None


def _rolled_out(deployment: Any) -> bool:
    """What `kubectl rollout status` waits for."""
    status, replicas = deployment.status, deployment.spec.replicas or 0
    observed = (status.observed_generation or 0) >= (deployment.metadata.generation or 0)
    updated = status.updated_replicas or 0
    available = status.available_replicas or 0
    return observed and updated == replicas and available == replicas


def _translated(error: ApiException, name: str, action: str, namespace: str) -> DriverError:
    status = error.status or 0
    if status in (401, 403):
        return DriverError(
            f"no permission to {action} in namespace {namespace} (HTTP {status})",
            hint=f"the credentials need {RBAC_NEEDED}",
        )
    if status == 404:
        return DriverError(
            f"deployment {name} not found in namespace {namespace}",
            hint="check driver.deployments and driver.namespace",
        )
    retryable = status >= 500 or status in (409, 429) or status == 0
    return DriverError(
        f"Kubernetes API: {action} {name} failed (HTTP {status}: {error.reason})",
        retryable=retryable,
    )
