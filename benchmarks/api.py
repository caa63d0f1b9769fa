"""The API's read throughput: `backout serve` against wrk, beside a real unleash-server.

A workspace with SERVICES fake-driven services (each with releases), RUNS runs and incidents,
and FLAGS flags is served by the real `backout serve --no-watch`; wrk (from Debian) asks
`GET /api/v1/services`, `GET /api/v1/runs` (a page of 50) and the Unleash client endpoint
`GET /api/client/features` at 1, 16 and 64 concurrent connections. The same flags are seeded
into unleash-server (tests/node, on a throwaway PostgreSQL cluster), whose
`/api/client/features` is measured in the same run, the same way.

Prints one JSON object: `services_rps`, `runs_rps`, `client_features_rps`,
`unleash_server_features_rps` (at 16 connections), `*_p99_ms`, and every figure per
concurrency under `by_concurrency`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.pg, tests.flags

from _processes import stop_gracefully

from backout.config import FlagDefinition
from backout.operations.deploy import record_release
from backout.operations.tokens import Role, create_token
from backout.quickstart.workspace import free_port
from backout.releases import ReleaseStatus
from backout.runtime import Runtime
from backout.store import Incident, Run, utcnow
from tests.flags.unleash_server import UnleashServer, start_unleash, unleash_missing
from tests.pg import PostgresCluster, find_bindir, start_cluster

BACKOUT = str(Path(sys.executable).with_name("backout"))
SERVICES = 8
RUNS = 200
FLAGS = 20
CONCURRENCY = (1, 16, 64)
HEADLINE_CONCURRENCY = 16
START_TIMEOUT_S = 60.0


def flag_definitions() -> dict[str, FlagDefinition]:
    """FLAGS flags of a shop: gradual rollouts, some off, some for a list of users."""
    made = {}
    for n in range(FLAGS):
        strategies = []
        if n % 5 == 0:
            users = {"contextName": "userId", "operator": "IN", "values": ["u1", "u2", "u3"]}
            parameters = {"rollout": "100", "stickiness": "default", "groupId": f"g{n}"}
            strategies = [
                {"name": "flexibleRollout", "parameters": parameters, "constraints": [users]}
            ]
        made[f"shop-feature-{n:02d}"] = FlagDefinition(
            description=f"feature {n} of the shop",
            enabled=n % 4 != 3,
            rollout=(n * 7) % 101 if not strategies else None,
            strategies=strategies,
        )
    return made


def make_workspace(folder: Path) -> tuple[Path, str, str]:
    """backout.yaml with SQLite state; releases, runs and incidents recorded; two tokens."""
    config = folder / "backout.yaml"
    service = {"tier": "core", "driver": {"type": "fake"}, "router": {"type": "fake"}}
    definitions = {
        key: definition.model_dump(exclude_none=True)
        for key, definition in flag_definitions().items()
    }
    settings = {
        "project": "api-bench",
        "state": {"database": "sqlite:///state.db", "directory": ".backout"},
        "services": {f"service-{n}": service for n in range(SERVICES)},
        "flags": {"provider": {"type": "builtin"}, "definitions": definitions},
    }
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    runtime = Runtime.open(config)
    try:
        for name in runtime.config.services:
            for version, status in (("1.0.0", ReleaseStatus.GOOD), ("1.1.0", ReleaseStatus.LIVE)):
                record_release(runtime, name, version, ref=None, actor="bench", status=status)
        record_history(runtime)
        runtime.flags().client_features()  # the builtin provider creates the flags on first use
        viewer = create_token(runtime, "bench-viewer", Role.VIEWER, actor="bench")
        client = create_token(runtime, "bench-client", Role.CLIENT, actor="bench")
    finally:
        runtime.close()
    return config, viewer, client


def record_history(runtime: Runtime) -> None:
    """RUNS finished rollbacks, each with its resolved incident, spread over the services."""
    with runtime.store.session() as session:
        for n in range(RUNS):
            service = f"service-{n % SERVICES}"
            incident = Incident(
                environment=runtime.environment,
                service=service,
                title=f"error rate over 5% ({n})",
                severity="high",
                status="resolved",
                rto_s=900.0,
                detected_at=utcnow(),
            )
            session.add(incident)
            session.flush()
            session.add(
                Run(
                    environment=runtime.environment,
                    kind="application",
                    service=service,
                    reason="error rate over 5%",
                    state="succeeded",
                    actor="bench",
                    incident_id=incident.id,
                    finished_at=utcnow(),
                )
            )


@contextmanager
def backout_serve(config: Path, viewer: str) -> Iterator[str]:
    """The real `backout serve --no-watch` on a free port; yields its base URL."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("BACKOUT_")}
    log = config.parent / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [BACKOUT, "serve", "--no-watch", "--port", str(port), "--config", str(config)],
            cwd=config.parent,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/api/v1/services", {"Authorization": f"Bearer {viewer}"}, log)
        yield url
    finally:
        stop_gracefully(process)


def wait_until_answers(url: str, headers: dict[str, str], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=2.0).is_success:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer in {START_TIMEOUT_S}s:\n{log.read_text()[-2000:]}")


@contextmanager
def unleash_server(folder: Path) -> Iterator[UnleashServer]:
    """unleash-server on a throwaway PostgreSQL cluster, with the bench's flags seeded."""
    missing = unleash_missing()
    bindir = find_bindir()
    if missing is not None or bindir is None:
        raise SystemExit(missing or "PostgreSQL's server programs are missing: make system-deps")
    cluster: PostgresCluster = start_cluster(bindir)
    server: UnleashServer | None = None
    try:
        database = cluster.create_database()
        db = {"host": "127.0.0.1", "port": cluster.port, "user": "postgres", "database": database}
        server = start_unleash(folder, db=db)
        server.seed(flag_definitions())
        yield server
    finally:
        if server is not None:
            server.stop()
        cluster.destroy()


_LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, authorization: str, connections: int, duration_s: int) -> dict[str, float]:
    """wrk's requests per second and 99th-percentile latency; fails on any error answer."""
    threads = min(connections, 2)
    load = [f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    done = subprocess.run(
        ["wrk", *load, "-H", f"Authorization: {authorization}", url],
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"wrk saw errors on {url}:\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if rate is None or p99 is None:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    return {
        "rps": round(float(rate.group(1))),
        "p99_ms": round(float(p99.group(1)) * _LATENCY_UNITS[p99.group(2)], 2),
    }


def same_flags(backout_url: str, client: str, unleash: UnleashServer) -> int:
    """Both servers serve the same flag names (the payloads differ in their metadata)."""
    ours = httpx.get(f"{backout_url}/api/client/features", headers={"Authorization": client})
    theirs = unleash.served_to_sdks()
    names = sorted(feature["name"] for feature in ours.json()["features"])
    if names != sorted(feature["name"] for feature in theirs["features"]):
        raise SystemExit(f"the servers serve different flags: {names} / {theirs['features']}")
    return len(names)


def measure(duration_s: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk (make bench-api does)")
    with tempfile.TemporaryDirectory(prefix="backout-api-bench-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)
        config, viewer, client = make_workspace(folder)
        with backout_serve(config, viewer) as url, unleash_server(folder) as unleash:
            flags = same_flags(url, client, unleash)
            targets = {
                "services": (f"{url}/api/v1/services", f"Bearer {viewer}"),
                "runs": (f"{url}/api/v1/runs", f"Bearer {viewer}"),
                "client_features": (f"{url}/api/client/features", client),
                "unleash_server_features": (
                    f"{unleash.url}/api/client/features",
                    unleash.backend_token,
                ),
            }
            by_concurrency: dict[str, dict[str, dict[str, float]]] = {}
            for connections in CONCURRENCY:
                by_concurrency[str(connections)] = {
                    name: wrk(target, authorization, connections, duration_s)
                    for name, (target, authorization) in targets.items()
                }
    headline = by_concurrency[str(HEADLINE_CONCURRENCY)]
    result: dict[str, Any] = {}
    for name in targets:
        result[f"{name}_rps"] = headline[name]["rps"]
        result[f"{name}_p99_ms"] = headline[name]["p99_ms"]
    result["client_features_ratio"] = round(
        headline["client_features"]["rps"] / headline["unleash_server_features"]["rps"], 2
    )
    result.update(
        {
            "concurrency": HEADLINE_CONCURRENCY,
            "by_concurrency": by_concurrency,
            "services": SERVICES,
            "runs_page": 50,
            "flags": flags,
            "duration_s": duration_s,
            "cpus": os.cpu_count(),
        }
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the cleanup runs
    started = time.monotonic()
    result = measure(args.duration)
    result["total_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
