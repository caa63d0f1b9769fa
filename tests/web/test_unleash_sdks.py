"""The Unleash SDKs, unchanged, read their flags from backout: the Python UnleashClient (polling
and streaming), the Node unleash-client in a `node` process, and OpenFeature through the
Unleash OpenFeature provider. Each agrees with backout's own Evaluator, and sees a change made
by the real `backout` CLI in another process within its refresh interval."""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from UnleashClient import UnleashClient
from UnleashClient.utils import InstanceAllowType

from backout.flags import Evaluator
from backout.runtime import Runtime
from tests.pg_fixtures import running_in_ci
from tests.web.unleash_support import (
    USERS,
    FlagServer,
    backout_cli,
    serving,
    token,
    wait_until,
    write_flag_config,
)

NODE_MODULES = Path(__file__).parents[1] / "node" / "node_modules"
REFRESH_S = 1


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(write_flag_config(tmp_path))
    yield runtime
    runtime.close()


@pytest.fixture
def server(runtime: Runtime) -> Iterator[FlagServer]:
    with serving(runtime) as server:
        yield server


@pytest.fixture
def client_token(runtime: Runtime) -> str:
    return token(runtime)


def served(runtime: Runtime) -> Evaluator:
    return Evaluator.from_client_features(runtime.flags().client_features())


def disable(runtime: Runtime, flag: str) -> float:
    """`backout flags disable FLAG` in its own process; the time it returned."""
    backout_cli(runtime.config.source, "flags", "disable", flag, "--reason", "errors")
    return time.monotonic()


def unleash_options(server: FlagServer, token_value: str, cache: Path) -> dict[str, Any]:
    """What an app gives UnleashClient: backout's /api, the token as the Authorization header;
    the cache in the test's folder, and no warning about several clients in one process."""
    return {
        "url": server.api,
        "app_name": "shop",
        "instance_id": f"shop-{uuid.uuid4().hex[:6]}",
        "refresh_interval": REFRESH_S,
        "metrics_interval": REFRESH_S,
        "request_retries": 0,
        "custom_headers": {"Authorization": token_value},
        "cache_directory": str(cache),
        "multiple_instance_mode": InstanceAllowType.SILENTLY_ALLOW,
    }


@pytest.fixture
def unleash(
    server: FlagServer, client_token: str, tmp_path: Path
) -> Iterator[Callable[..., UnleashClient]]:
    """Factory: a started UnleashClient; destroyed (its scheduler threads joined) at the end."""
    made: list[UnleashClient] = []

    def make(token_value: str = client_token, **options: Any) -> UnleashClient:
        settings = {**unleash_options(server, token_value, tmp_path / "unleash-cache"), **options}
        client = UnleashClient(**settings)
        made.append(client)
        client.initialize_client()
        return client

    yield make
    for client in made:
        client.destroy()


def test_unleash_python_sdk_agrees_with_backout_on_a_rollout_and_variants(
    unleash: Callable[..., UnleashClient], runtime: Runtime, tmp_path: Path
) -> None:
    client = unleash()
    evaluator = served(runtime)

    for user in USERS:
        context = {"userId": user}
        assert client.is_enabled("checkout", context) == evaluator.is_enabled("checkout", context)
        assert (
            client.get_variant("banner", context)["name"]
            == (evaluator.get_variant("banner", context)["name"])
        )
    exposed = sum(client.is_enabled("checkout", {"userId": u}) for u in USERS)
    assert 60 < exposed < 120
    assert not client.is_enabled("dark-mode", {"userId": "1"})
    assert sorted(client.feature_definitions()) == ["banner", "checkout", "dark-mode"]
    assert list((tmp_path / "unleash-cache").iterdir()), "the SDK's cache went to tmp_path"


def test_unleash_python_sdk_sees_a_cli_kill_switch_within_its_refresh_interval(
    unleash: Callable[..., UnleashClient], runtime: Runtime
) -> None:
    client = unleash()
    assert any(client.is_enabled("checkout", {"userId": u}) for u in USERS)

    changed_at = disable(runtime, "checkout")
    wait_until(
        lambda: not any(client.is_enabled("checkout", {"userId": u}) for u in USERS),
        "UnleashClient saw the flag off",
        timeout_s=REFRESH_S + 2,
    )

    assert time.monotonic() - changed_at < REFRESH_S + 1.0


def test_unleash_python_sdk_registers_and_sends_metrics_and_gets_202(
    unleash: Callable[..., UnleashClient], server: FlagServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="UnleashClient")
    client = unleash()
    client.is_enabled("checkout", {"userId": "7"})

    client.destroy()  # flushes the metrics

    messages = [record.getMessage() for record in caplog.records]
    assert "Unleash Client successfully registered!" in messages
    assert "Unleash Client metrics successfully sent!" in messages
    instance = server.app.state.flag_clients.instances["shop", client.unleash_instance_id]
    assert instance.registration["sdkVersion"].startswith("unleash-python-sdk:")
    assert instance.metrics_reports >= 1


def test_unleash_python_sdk_with_a_wrong_token_gets_no_flags(
    unleash: Callable[..., UnleashClient], server: FlagServer
) -> None:
    client = unleash("bk_not-a-token")

    assert client.feature_definitions() == {}
    assert not any(client.is_enabled("checkout", {"userId": u}) for u in USERS)
    assert server.app.state.flag_clients.instances == {}


def test_unleash_python_sdk_in_streaming_mode_sees_a_change_within_a_second(
    unleash: Callable[..., UnleashClient], runtime: Runtime
) -> None:
    client = unleash(experimental_mode={"type": "streaming"})
    wait_until(lambda: client.feature_definitions(), "the stream hydrated the SDK")
    assert any(client.is_enabled("checkout", {"userId": u}) for u in USERS)

    changed_at = disable(runtime, "checkout")
    wait_until(
        lambda: not any(client.is_enabled("checkout", {"userId": u}) for u in USERS),
        "the streaming UnleashClient saw the flag off",
    )

    assert time.monotonic() - changed_at < 1.0


NODE_PROGRAM = """
const { initialize } = require('unleash-client');
const [url, token, backupPath, users] = process.argv.slice(2);
const unleash = initialize({
  url, appName: 'node-shop', customHeaders: { Authorization: token },
  refreshInterval: 1000, metricsInterval: 1000, backupPath, skipInstanceCountWarning: true,
});
const report = (event) => console.log(JSON.stringify({
  event,
  checkout: JSON.parse(users).map((userId) => unleash.isEnabled('checkout', { userId })),
  banner: JSON.parse(users).map((userId) => unleash.getVariant('banner', { userId }).name),
}));
unleash.on('synchronized', () => report('synchronized'));
unleash.on('changed', () => report('changed'));
unleash.on('error', (error) => console.error(String(error)));
process.stdin.on('end', () => { unleash.destroy(); process.exit(0); });
process.stdin.resume();
"""


def node_or_skip() -> str:
    node = shutil.which("node")
    missing = (
        "node is not installed"
        if node is None
        else f"{NODE_MODULES} is missing (run: make node-deps)"
        if not (NODE_MODULES / "unleash-client").is_dir()
        else None
    )
    if missing is not None:
        if running_in_ci():
            pytest.fail(f"CI is set and {missing}", pytrace=False)
        pytest.skip(missing)
    assert node is not None
    return node


@pytest.fixture
def node_app(
    server: FlagServer, client_token: str, tmp_path: Path
) -> Iterator[queue.Queue[dict[str, Any]]]:
    """The Node SDK in a `node` process; each line it prints (its answers) on a queue."""
    node = node_or_skip()
    program = tmp_path / "app.js"
    program.write_text(NODE_PROGRAM, encoding="utf-8")
    process = subprocess.Popen(
        [node, str(program), server.api, client_token, str(tmp_path), json.dumps(USERS)],
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[dict[str, Any]] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(json.loads(line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(10)
        finally:
            process.kill()
            reader.join(5)
            assert process.stderr is not None
            errors = process.stderr.read()
            process.stderr.close()
            process.stdout.close()  # type: ignore[union-attr]
    assert "Error" not in errors, errors


def answers_until(
    lines: queue.Queue[dict[str, Any]], done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        try:
            answer = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError("the Node SDK did not answer in 10s") from None
        if done(answer):
            return answer


def test_unleash_node_sdk_agrees_with_backout_and_sees_a_cli_kill_switch(
    node_app: queue.Queue[dict[str, Any]], runtime: Runtime, server: FlagServer
) -> None:
    evaluator = served(runtime)
    expected = [evaluator.is_enabled("checkout", {"userId": u}) for u in USERS]
    variants = [evaluator.get_variant("banner", {"userId": u})["name"] for u in USERS]

    first = answers_until(node_app, lambda a: any(a["checkout"]))
    changed_at = disable(runtime, "checkout")
    off = answers_until(node_app, lambda a: not any(a["checkout"]))
    seen_s = time.monotonic() - changed_at

    assert first["checkout"] == expected
    assert first["banner"] == variants
    assert seen_s < REFRESH_S + 1.0, f"{seen_s:.2f}s"
    assert off["banner"] == variants, "the other flags are unchanged"
    wait_until(
        lambda: any(app == "node-shop" for app, _ in server.app.state.flag_clients.instances),
        "the Node SDK registered",
    )


def openfeature_provider_or_skip() -> Any:
    try:
        import unleash_openfeature_python_provider
    except ImportError:
        missing = "unleash-openfeature-python-provider is not installed (make setup-dev)"
        if running_in_ci():
            pytest.fail(f"CI is set and {missing}", pytrace=False)
        pytest.skip(missing)
    return unleash_openfeature_python_provider


def test_openfeature_through_the_unleash_provider_reads_backouts_flags(
    server: FlagServer, runtime: Runtime, client_token: str, tmp_path: Path
) -> None:
    provider_module = openfeature_provider_or_skip()
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    options = unleash_options(server, client_token, tmp_path / "openfeature-cache")
    provider = provider_module.UnleashFlagProvider(**options)
    api.set_provider_and_wait(provider)
    try:
        flags = api.get_client()
        evaluator = served(runtime)
        for user in USERS[:100]:
            context = EvaluationContext(targeting_key=user)
            expected = evaluator.is_enabled("checkout", {"userId": user})
            colour = evaluator.get_variant("banner", {"userId": user})["payload"]["value"]
            assert flags.get_boolean_value("checkout", not expected, context) == expected
            assert flags.get_string_value("banner", "none", context) == colour

        disable(runtime, "checkout")
        wait_until(
            lambda: (
                not any(
                    flags.get_boolean_value("checkout", True, EvaluationContext(targeting_key=u))
                    for u in USERS
                )
            ),
            "OpenFeature saw the flag off",
            timeout_s=REFRESH_S + 2,
        )
        assert flags.get_boolean_value("no-such-flag", True) is True, "the default for unknowns"
    finally:
        api.shutdown()
