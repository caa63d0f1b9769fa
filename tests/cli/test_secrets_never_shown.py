"""No secret backout was given is ever shown: a password planted in every URL of the config and
a planted token are looked for on every channel a person, a client or a log reader can see —
the CLI's stdout and stderr (plain and `--json`), the API's bodies for each role, the server's
log, and every file backout writes (the state store, logs)."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

import httpx
import yaml

from tests.cli.conftest import config_text
from tests.cli.test_serve_cmd import free_port, wait_until_answering

if TYPE_CHECKING:
    from tests.cli.conftest import Backout

PASSWORD = "Pl4nted-Passw0rd"
TOKEN = "Pl4nted-Unleash-T0ken"
# Nothing listens on port 1: every use of these URLs fails, and its error is what is checked.
UNLEASH_URL = f"http://admin:{PASSWORD}@127.0.0.1:1"
DATABASE_URL = f"postgresql://app:{PASSWORD}@127.0.0.1:1/shop"
STATE_URL = f"postgresql://backout:{PASSWORD}@127.0.0.1:1/state"
HEALTH_URL = f"http://probe:{PASSWORD}@127.0.0.1:1/health?token={TOKEN}"


def _with_planted_secrets(backout: Backout) -> None:
    config = yaml.safe_load(config_text())
    config["flags"] = {"provider": {"type": "unleash", "url": UNLEASH_URL, "token": TOKEN}}
    config["databases"] = {"shop": {"url": DATABASE_URL}}
    config["services"]["api"]["health"] = [{"type": "http", "url": HEALTH_URL}]
    config["services"]["api"]["health_timeout"] = "1s"
    backout.config.write_text(yaml.safe_dump(config), encoding="utf-8")


def _assert_no_secret(channel: str, text: str) -> None:
    for secret in (PASSWORD, TOKEN):
        assert secret not in text, f"{channel} shows a secret:\n{text}"


def test_no_cli_output_shows_a_planted_secret(backout: Backout) -> None:
    _with_planted_secrets(backout)
    commands = [
        ("check",),
        ("flags", "list"),
        ("flags", "list", "--json"),
        ("flags", "show", "waitlist"),
        ("flags", "disable", "waitlist", "--reason", "sessions 500s"),
        ("db", "backup", "shop"),
        ("db", "verify", "shop"),
        ("status", "--json"),
    ]
    failures = 0
    for command in commands:
        result = backout(*command)
        failures += result.code != 0
        _assert_no_secret(f"backout {' '.join(command)}", result.stdout + result.stderr)
    assert failures >= 5, "the commands that use the unreachable URLs must fail, saying where"
    on_postgres = backout.with_env(BACKOUT_DATABASE_URL=STATE_URL)("status")
    assert on_postgres.code != 0
    _assert_no_secret(
        "backout status (state on PostgreSQL)", on_postgres.stdout + on_postgres.stderr
    )


def test_the_unleash_error_names_the_server_without_its_password(backout: Backout) -> None:
    _with_planted_secrets(backout)
    result = backout("flags", "list")
    result.refused(8, "http://admin:***@127.0.0.1:1")


def test_no_api_body_or_server_log_shows_a_planted_secret(backout: Backout) -> None:
    _with_planted_secrets(backout)
    viewer = backout.ok("token", "create", "reader", "--role", "viewer").stdout.split()[-1]
    client = backout.ok("token", "create", "app", "--role", "client").stdout.split()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = backout.start("serve", "--port", str(port), "--no-watch")
    wait_until_answering(server, base)
    try:
        for path, token in [
            ("/api/v1/flags", f"Bearer {viewer}"),
            ("/api/v1/flags/waitlist", f"Bearer {viewer}"),
            ("/api/v1/services", f"Bearer {viewer}"),
            ("/api/client/features", client),
        ]:
            response = httpx.get(base + path, headers={"Authorization": token}, timeout=10)
            assert response.status_code != 500, (path, response.text)
            _assert_no_secret(f"GET {path} ({response.status_code})", response.text)
        # A client token is handed to apps, even to browsers: where the flags live is not theirs.
        assert response.status_code == 503, response.text
        assert "127.0.0.1:1" not in response.text
        assert "server log" in response.json()["hint"]
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=30)
    assert "could not be read" in stderr, "the server log says why the flags are unreadable"
    _assert_no_secret("the server log", stdout + stderr)


def _failed_rollback(backout: Backout) -> None:
    """A rollback whose health check cannot reach its URL: the failure is stored and shown."""
    backout.good_then_live()
    result = backout("rollback", "api", "--yes", "--reason", "checkout 500s")
    assert result.code == 1, result
    assert "GET /health?token=*** FAILED" in result.stderr, result


def test_a_failed_run_shows_where_it_failed_without_the_secret(backout: Backout) -> None:
    _with_planted_secrets(backout)
    _failed_rollback(backout)
    for command in [("run", "show", "1", "--json"), ("incident", "show", "1", "--json")]:
        result = backout(*command)
        assert result.code == 0, result
        assert "/health?token=***" in result.stdout, result
        _assert_no_secret(f"backout {' '.join(command)}", result.stdout + result.stderr)


def test_no_file_backout_writes_holds_a_planted_secret(backout: Backout) -> None:
    _with_planted_secrets(backout)
    _failed_rollback(backout)
    for command in [("flags", "disable", "waitlist", "--reason", "r"), ("db", "backup", "shop")]:
        backout(*command)
    written = [p for p in backout.config.parent.rglob("*") if p.is_file() and p != backout.config]
    assert any(p.suffix == ".db" for p in written), written
    for path in written:
        _assert_no_secret(str(path), path.read_bytes().decode("utf-8", errors="replace"))
