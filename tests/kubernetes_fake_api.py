"""A FAKE Kubernetes API server for the `kubernetes` driver's tests: no real one can run here.

A real HTTP server on loopback (stdlib, in a thread) that implements only what the driver
uses of apps/v1 in one namespace, with the semantics the driver relies on:

    GET   /apis/apps/v1/namespaces/{ns}/deployments/{name}
    PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}   strategic merge (containers by
          name), JSON merge, or a JSON patch replacing /spec/template (what `rollout undo` sends)
    GET   /apis/apps/v1/namespaces/{ns}/replicasets?labelSelector=k=v,...

Each template change makes a new ReplicaSet with `deployment.kubernetes.io/revision` = the next
number; going back to an old template re-uses its ReplicaSet and bumps its revision. A rollout
becomes available `rollout_delay` seconds after the change, never for an image in `bad_images`.
`fail_next[(method, name)] = status` answers the next such request with that error status.

It is test support, not a Kubernetes: no watch, no pods, no validation.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
_PATH = re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/(deployments|replicasets)(?:/([^/]+))?$")


@dataclass
class _Rollout:
    """What the fake controller is doing for one deployment."""

    ready_at: float  # monotonic time the new pods become available; inf for a bad image
    previous_available: int  # what stays available meanwhile


@dataclass
class FakeKubeApi:
    namespace: str = "shop"
    rollout_delay: float = 0.3
    bad_images: set[str] = field(default_factory=set)
    fail_next: dict[tuple[str, str], int] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    replicasets: list[dict[str, Any]] = field(default_factory=list)
    rollouts: dict[str, _Rollout] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def add_deployment(self, name: str, image: str, replicas: int = 0) -> None:
        """A deployment as `kubectl apply` would leave it, rolled out (revision 1)."""
        template = {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}]},
        }
        self.deployments[name] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "generation": 1,
                "annotations": {},
                "uid": f"uid-{name}",
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": template,
            },
            "status": {},
        }
        self._record_template(name)
        self.rollouts[name] = _Rollout(0.0, replicas)

    def serving(self, name: str) -> tuple[str | None, str, bool]:
        """(the template's backout.io/version, the active ReplicaSet, fully available)."""
        with self.lock:
            deployment = self.deployments[name]
            status = self._status(name)
            template = deployment["spec"]["template"]
            version = template["metadata"].get("annotations", {}).get("backout.io/version")
            active = self._replicaset_for(name, template)
            replicas = deployment["spec"]["replicas"]
            done = replicas > 0 and status["availableReplicas"] == replicas
            return version, active["metadata"]["name"] if active else "", done

    # --- the fake controller -------------------------------------------------------------

    def _status(self, name: str) -> dict[str, Any]:
        deployment = self.deployments[name]
        replicas = deployment["spec"]["replicas"]
        rollout = self.rollouts[name]
        done = time.monotonic() >= rollout.ready_at
        status = {
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas if done else 0,
            "availableReplicas": replicas if done else min(rollout.previous_available, replicas),
        }
        deployment["status"] = status
        return status

    def _record_template(self, name: str) -> None:
        """After a template change: re-use or make its ReplicaSet, give it the next revision."""
        deployment = self.deployments[name]
        template = deployment["spec"]["template"]
        revision = 1 + max(
            (int(rs["metadata"]["annotations"][REVISION]) for rs in self._owned(name)), default=0
        )
        replicaset = self._replicaset_for(name, template)
        if replicaset is None:
            digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
            owned = copy.deepcopy(template)
            owned["metadata"].setdefault("labels", {})[HASH_LABEL] = digest
            replicaset = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{name}-{digest}",
                    "namespace": self.namespace,
                    "labels": dict(owned["metadata"]["labels"]),
                    "annotations": {},
                    "ownerReferences": [
                        {
                            "kind": "Deployment",
                            "name": name,
                            "uid": f"uid-{name}",
                            "apiVersion": "apps/v1",
                        }
                    ],
                },
                "spec": {
                    "replicas": 0,
                    "template": owned,
                    "selector": {"matchLabels": dict(owned["metadata"]["labels"])},
                },
            }
            self.replicasets.append(replicaset)
        replicaset["metadata"]["annotations"][REVISION] = str(revision)
        deployment["metadata"]["annotations"][REVISION] = str(revision)

    def _owned(self, name: str) -> list[dict[str, Any]]:
        return [
            rs for rs in self.replicasets if rs["metadata"]["ownerReferences"][0]["name"] == name
        ]

    def _replicaset_for(self, name: str, template: dict[str, Any]) -> dict[str, Any] | None:
        for replicaset in self._owned(name):
            if _without_hash(replicaset["spec"]["template"]) == _without_hash(template):
                return replicaset
        return None

    def patch(self, name: str, body: Any, content_type: str) -> dict[str, Any]:
        deployment = self.deployments[name]
        before = copy.deepcopy(deployment["spec"])
        available = self._status(name)["availableReplicas"]
        if content_type == "application/json-patch+json":
            for operation in body:
                if (operation["op"], operation["path"]) != ("replace", "/spec/template"):
                    raise ValueError(f"the fake API only replaces /spec/template: {operation}")
                deployment["spec"]["template"] = copy.deepcopy(operation["value"])
        else:
            _merge(deployment, body, strategic="strategic" in content_type)
        if deployment["spec"] != before:
            deployment["metadata"]["generation"] += 1
            image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            delay = float("inf") if image in self.bad_images else self.rollout_delay
            self.rollouts[name] = _Rollout(time.monotonic() + delay, available)
        if deployment["spec"]["template"] != before["template"]:
            self._record_template(name)
        self._status(name)
        return deployment


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    clean = copy.deepcopy(template)
    clean.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    return clean


def _merge(target: dict[str, Any], patch: dict[str, Any], *, strategic: bool) -> None:
    """RFC 7386 merge; strategic: a list of containers merges its items by name."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, strategic=strategic)
        elif strategic and key == "containers" and isinstance(target.get(key), list):
            for item in value:
                match = [c for c in target[key] if c["name"] == item["name"]]
                if match:
                    _merge(match[0], item, strategic=True)
                else:
                    target[key].append(item)
        else:
            target[key] = copy.deepcopy(value)


class _Handler(BaseHTTPRequestHandler):
    api: FakeKubeApi

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer("GET")

    def do_PATCH(self) -> None:
        self._answer("PATCH")

    def _answer(self, method: str) -> None:
        url = urlsplit(self.path)
        match = _PATH.match(url.path)
        if match is None or match.group(1) != self.api.namespace:
            return self._send(404, _failure(404, f"the fake API has no {url.path}"))
        kind, name = match.group(2), match.group(3) or ""
        failure = self.api.fail_next.pop((method, name), None)
        if failure is not None:
            return self._send(failure, _failure(failure, "injected by the test"))
        with self.api.lock:
            if kind == "replicasets":
                selector = parse_qs(url.query).get("labelSelector", [""])[0]
                return self._send(
                    200,
                    {
                        "kind": "ReplicaSetList",
                        "apiVersion": "apps/v1",
                        "metadata": {},
                        "items": self._select(selector),
                    },
                )
            if name not in self.api.deployments:
                return self._send(404, _failure(404, f'deployments.apps "{name}" not found'))
            if method == "GET":
                self.api._status(name)
                return self._send(200, self.api.deployments[name])
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            content_type = self.headers.get("Content-Type", "").split(";")[0]
            return self._send(200, self.api.patch(name, body, content_type))

    def _select(self, selector: str) -> list[dict[str, Any]]:
        wanted = dict(term.split("=", 1) for term in selector.split(",") if term)
        return [
            rs for rs in self.api.replicasets if wanted.items() <= rs["metadata"]["labels"].items()
        ]

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _failure(code: int, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "code": code,
    }


def write_kubeconfig(path: Path, url: str, context: str = "fake") -> Path:
    """A kubeconfig whose context `context` points at the fake API with a bearer token."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": context,
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "tester", "user": {"token": "fake-token"}}],
        "contexts": [{"name": context, "context": {"cluster": "fake", "user": "tester"}}],
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


@pytest.fixture
def fake_kube_api() -> Iterator[FakeKubeApi]:
    """A FAKE API server on a loopback port, serving namespace `shop`, stopped at teardown."""
    api = FakeKubeApi()
    handler = type("Handler", (_Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api
    server.shutdown()
    server.server_close()
    thread.join()
