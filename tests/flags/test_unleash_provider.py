"""The `unleash` flag provider beyond the shared contract: its settings, which Unleash
environment it drives, what it sends Unleash, and the errors a person sees when the server, the
token or the names are wrong."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from backout.config import PluginSpec
from backout.db.cluster import free_port
from backout.errors import (
    BackoutError,
    ConfigError,
    ExitCode,
    NotFoundError,
    RefusedError,
    UnavailableError,
)
from backout.flags import FLAG_PROVIDERS, FlagProvider
from backout.registry import PluginContext
from tests.flags.test_provider_contract import SEEDED
from tests.flags.unleash_server import SDK_ENVIRONMENT, UnleashServer

TOKEN_ENV = "BACKOUT_TEST_UNLEASH_TOKEN"


def build(tmp_path: Path, **settings: Any) -> FlagProvider:
    """The provider as the registry builds it from a `flags.provider` section."""
    context = PluginContext(
        service=SDK_ENVIRONMENT,
        config_file=tmp_path / "backout.yaml",
        base_dir=tmp_path,
        state_dir=tmp_path / ".backout",
    )
    return FLAG_PROVIDERS.build(
        PluginSpec(type="unleash", **settings), ("flags", "provider"), context
    )


@pytest.fixture
def unleash(unleash_server: UnleashServer) -> UnleashServer:
    """The shared server holding the contract's flags (waitlist, new-checkout, dark-mode)."""
    unleash_server.seed(SEEDED)
    return unleash_server


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"url": "http://127.0.0.1:4242"}, "give exactly one of 'token' or 'token_env'"),
        (
            {"url": "http://127.0.0.1:4242", "token": "t", "token_env": "T"},
            "give exactly one of 'token' or 'token_env'",
        ),
        ({"url": "127.0.0.1:4242", "token": "t"}, "flags.provider.url: expected an http://"),
        ({"url": "http://u", "token": "t", "environmnet": "x"}, "flags.provider.environmnet"),
    ],
    ids=["no-token", "two-tokens", "no-scheme", "misspelt-key"],
)
def test_invalid_settings_are_a_config_error_naming_the_key(
    tmp_path: Path, settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        build(tmp_path, **settings)

    assert any(problem in line for line in raised.value.problems), raised.value.problems


def test_the_token_is_read_from_the_variable_token_env_names(
    unleash: UnleashServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, unleash.admin_token)

    provider = build(tmp_path, url=unleash.url, token_env=TOKEN_ENV)

    assert [flag.key for flag in provider.flags()] == ["dark-mode", "new-checkout", "waitlist"]


def test_a_token_env_that_is_not_set_is_a_config_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    provider = build(tmp_path, url="http://127.0.0.1:4242", token_env=TOKEN_ENV)

    with pytest.raises(ConfigError) as raised:
        provider.flags()

    assert raised.value.problems == [
        f"flags.provider.token_env: the environment variable {TOKEN_ENV} is not set"
    ]


def test_the_environment_is_backouts_own_unless_set(unleash: UnleashServer, tmp_path: Path) -> None:
    """The flags were turned on in `production` (backout's environment here) only."""
    in_production = build(tmp_path, url=unleash.url, token=unleash.admin_token)
    in_development = build(
        tmp_path, url=unleash.url, token=unleash.admin_token, environment="development"
    )

    assert in_production.flag("waitlist").enabled
    assert not in_development.flag("waitlist").enabled
    assert in_development.client_features()["query"]["environment"] == "development"


def test_an_environment_unleash_lacks_is_not_found_naming_its_environments(
    unleash: UnleashServer, tmp_path: Path
) -> None:
    """Unleash itself would serve every flag as off in it: a silent kill switch on all flags."""
    provider = build(tmp_path, url=unleash.url, token=unleash.admin_token, environment="staging")

    with pytest.raises(NotFoundError) as raised:
        provider.client_features()

    assert "no enabled environment 'staging'" in raised.value.message
    assert raised.value.hint is not None
    assert "development, production" in raised.value.hint


def test_a_project_unleash_lacks_is_not_found(unleash: UnleashServer, tmp_path: Path) -> None:
    provider = build(tmp_path, url=unleash.url, token=unleash.admin_token, project="checkout")

    with pytest.raises(NotFoundError, match="project 'checkout' has no enabled environment"):
        provider.flags()


def test_pressing_the_kill_switch_twice_sends_unleash_one_change(
    unleash: UnleashServer, tmp_path: Path
) -> None:
    provider = build(tmp_path, url=unleash.url, token=unleash.admin_token)
    seeded = unleash.last_event_id()

    provider.set_enabled("waitlist", False)
    provider.set_enabled("waitlist", False)
    provider.set_rollout("waitlist", 50)
    provider.set_rollout("waitlist", 50)
    provider.mark_to_remove("waitlist")
    provider.mark_to_remove("waitlist")

    assert unleash.event_types("waitlist", after=seeded) == [
        "feature-environment-disabled",
        "feature-strategy-update",
        "feature-stale-on",
    ]


def test_a_server_that_is_not_running_is_unavailable_with_a_hint(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    provider = build(tmp_path, url=url, token="*:*.secret")

    with pytest.raises(UnavailableError) as raised:
        provider.set_enabled("waitlist", False)

    assert f"the Unleash server at {url} is not reachable" in raised.value.message
    assert raised.value.hint == "is it running, and is flags.provider.url right?"
    assert (raised.value.exit_code, raised.value.retryable) == (ExitCode.UNAVAILABLE, True)


def test_a_token_unleash_refuses_says_which_token_it_needs(
    unleash: UnleashServer, tmp_path: Path
) -> None:
    provider = build(tmp_path, url=unleash.url, token="*:*.not-a-token")

    with pytest.raises(BackoutError) as raised:
        provider.flags()

    assert "refused the token: You must log in to use Unleash." in raised.value.message
    assert raised.value.hint is not None
    assert "admin API token or a personal access token" in raised.value.hint


def test_a_backend_token_may_not_use_the_admin_api(unleash: UnleashServer, tmp_path: Path) -> None:
    provider = build(tmp_path, url=unleash.url, token=unleash.backend_token)

    with pytest.raises(BackoutError) as raised:
        provider.flags()

    assert raised.value.message.endswith(
        "does not let this token read the flags: "
        "invalid token: expected a different token type for this endpoint"
    )


def test_a_rollout_outside_0_to_100_is_refused_before_unleash_is_asked(
    unleash: UnleashServer, tmp_path: Path
) -> None:
    provider = build(tmp_path, url=unleash.url, token=unleash.admin_token)

    with pytest.raises(RefusedError, match="from 0 to 100, not 101"):
        provider.set_rollout("waitlist", 101)
    assert provider.flag("waitlist").rollout == 30


@pytest.fixture
def not_unleash() -> Iterator[str]:
    """A web server on 127.0.0.1 that is no Unleash: under /html it answers every request with
    an HTML page, elsewhere with a JSON object of its own."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 200
            if self.path.startswith("/html/"):
                body, kind = b"<html>a login page</html>", "text/html"
            elif self.path.startswith("/missing/"):
                status, body, kind = 404, b"<html><h1>Not Found</h1></html>", "text/html"
            elif self.path.startswith("/verbose/"):
                said = {"message": "bad request: " + "x" * 5_000_000}
                status, body, kind = 400, json.dumps(said).encode(), "application/json"
            else:
                body, kind = b'{"status": "ok"}', "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_url_that_answers_html_is_refused_with_a_hint(not_unleash: str, tmp_path: Path) -> None:
    provider = build(tmp_path, url=f"{not_unleash}/html", token="*:*.secret")

    with pytest.raises(BackoutError) as raised:
        provider.flags()

    assert "did not answer JSON" in raised.value.message
    assert raised.value.hint == "is flags.provider.url the base URL of an Unleash server?"


def test_a_web_server_answering_an_html_404_is_not_unleash_not_a_missing_flag(
    not_unleash: str, tmp_path: Path
) -> None:
    provider = build(tmp_path, url=f"{not_unleash}/missing", token="*:*.secret")

    with pytest.raises(BackoutError) as raised:
        provider.flags()

    assert not isinstance(raised.value, NotFoundError)
    assert "did not answer JSON (HTTP 404)" in raised.value.message
    assert "<html>" not in raised.value.message
    assert raised.value.hint == "is flags.provider.url the base URL of an Unleash server?"


def test_a_url_that_answers_other_json_is_refused_with_a_hint(
    not_unleash: str, tmp_path: Path
) -> None:
    provider = build(tmp_path, url=not_unleash, token="*:*.secret")

    with pytest.raises(BackoutError) as raised:
        provider.set_enabled("waitlist", False)

    assert raised.value.message == (
        f"the server at {not_unleash} answered unlike Unleash (no 'environments' in its answer)"
    )
    assert raised.value.hint is not None
    assert "base URL of an Unleash server" in raised.value.hint


def test_a_server_error_of_megabytes_is_quoted_in_a_few_lines(
    not_unleash: str, tmp_path: Path
) -> None:
    provider = build(tmp_path, url=f"{not_unleash}/verbose", token="*:*.secret")

    with pytest.raises(BackoutError) as raised:
        provider.flags()

    assert "bad request: xxx" in raised.value.message
    assert len(raised.value.message) < 1_000
