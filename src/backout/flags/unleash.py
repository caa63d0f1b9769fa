"""The `unleash` flag provider: the flags of one project and environment of an Unleash server,
read and changed through its admin API (Unleash 7; the paths below have been stable since 5).

    GET   /api/admin/environments/project/{project}                  the environment exists there
    GET   /api/admin/projects/{project}/features                     the flags' keys
    GET   /api/admin/projects/{project}/features/{key}?variantEnvironments=true
    POST  /api/admin/projects/{project}/features/{key}/environments/{env}/on | off
    POST  /api/admin/projects/{project}/features/{key}/environments/{env}/strategies
    PATCH /api/admin/projects/{project}/features/{key}/environments/{env}/strategies/{id}
    POST  /api/admin/projects/{project}/stale                        {"features": [key], ...}
    GET   /api/client/features?project={project}&environment={env}   what the SDKs are served

Every change first reads the flag and sends nothing when it already is as asked, so pressing a
kill switch twice leaves one event in Unleash's log. The client API trails a change by up to a
second (Unleash refreshes its revision once a second); the admin API, and so `flag()`, do not.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import Field, SecretStr, model_validator

from backout.durations import PositiveDuration
from backout.errors import BackoutError, ConfigError, NotFoundError, UnavailableError
from backout.flags.base import GRADUAL_ROLLOUT, Flag, require_percent
from backout.http_url import BaseHttpUrl
from backout.redact import remember_secret
from backout.registry import PluginContext, PluginSettings

logger = logging.getLogger(__name__)

_GATEWAY_ERRORS = {502, 503, 504}
_WHERE = "flags.provider"
_MOST_SAID = 300  # characters of a server's own error message quoted to a person


class UnleashFlagSettings(PluginSettings):
    url: BaseHttpUrl = Field(
        description="The Unleash server's base URL, e.g. http://127.0.0.1:4242/api."
    )
    token: SecretStr | None = Field(
        None, description="An admin API token or a personal access token (better: token_env)."
    )
    token_env: str | None = Field(
        None, min_length=1, description="The environment variable that holds the token."
    )
    project: str = Field("default", min_length=1, description="The Unleash project of the flags.")
    environment: str | None = Field(
        None,
        min_length=1,
        description="The Unleash environment (Unleash 7 ships `development` and `production`); "
        "default: the name of backout's own `environment`.",
    )
    timeout: PositiveDuration = Field(
        timedelta(seconds=10), description="Time allowed per request."
    )

    @model_validator(mode="after")
    def _one_token(self) -> UnleashFlagSettings:
        if (self.token is None) == (self.token_env is None):
            raise ValueError("give exactly one of 'token' or 'token_env'")
        return self


class UnleashFlags:
    """The flags of `settings.project` in one Unleash environment; see the module doc."""

    def __init__(self, settings: UnleashFlagSettings, context: PluginContext) -> None:
        self._settings = settings
        self._config_file = context.config_file
        self._environment = settings.environment or context.service
        self._project_path = f"/api/admin/projects/{_segment(settings.project)}"
        self._environment_checked = False

    def flags(self) -> list[Flag]:
        with self._api() as api:
            listed = api.get(f"{self._project_path}/features")["features"]
            return [self._read(api, key) for key in sorted(f["name"] for f in listed)]

    def flag(self, key: str) -> Flag:
        with self._api() as api:
            return self._read(api, key)

    def set_enabled(self, key: str, enabled: bool) -> Flag:
        with self._api() as api:
            flag = self._read(api, key)
            if flag.enabled == enabled:
                return flag
            state = "on" if enabled else "off"
            api.post(f"{self._environment_path(key)}/{state}", f"turn flag {key} {state}")
            logger.info("unleash: flag %s turned %s in %s", key, state, self._environment)
            return self._read(api, key)

    def set_rollout(self, key: str, percent: int) -> Flag:
        """Every active gradual rollout of the flag at `percent`, one added when it has none."""
        require_percent(percent)
        with self._api() as api:
            strategies = self._active_strategies(api, key)
            rollouts = [s for s in strategies if s["name"] == GRADUAL_ROLLOUT]
            path = f"{self._environment_path(key)}/strategies"
            what = f"set the rollout of flag {key} to {percent} %"
            if not rollouts:
                api.post(path, what, json=_gradual_rollout(key, percent))
            patch = [{"op": "replace", "path": "/parameters/rollout", "value": str(percent)}]
            behind = [s for s in rollouts if str(s["parameters"].get("rollout")) != str(percent)]
            for strategy in behind:
                api.patch(f"{path}/{_segment(strategy['id'])}", what, json=patch)
            if behind or not rollouts:
                logger.info("unleash: flag %s at %s %% in %s", key, percent, self._environment)
            return self._read(api, key)

    def mark_to_remove(self, key: str) -> Flag:
        """Unleash's own mark for a flag to remove: `stale`."""
        with self._api() as api:
            flag = self._read(api, key)
            if flag.to_remove:
                return flag
            body = {"features": [key], "stale": True}
            api.post(f"{self._project_path}/stale", f"mark flag {key} stale", json=body)
            logger.info("unleash: flag %s marked stale", key)
            return self._read(api, key)

    def client_features(self) -> dict[str, Any]:
        """What Unleash's client API serves an SDK of this project and environment."""
        with self._api() as api:
            params = {"project": self._settings.project, "environment": self._environment}
            payload: dict[str, Any] = api.get("/api/client/features", params=params)
            return payload

    @contextmanager
    def _api(self) -> Iterator[_AdminApi]:
        settings = self._settings
        headers = {"Authorization": self._token(), "Accept": "application/json"}
        timeout = settings.timeout.total_seconds()
        with httpx.Client(base_url=settings.url, headers=headers, timeout=timeout) as client:
            api = _AdminApi(client, settings.url)
            try:
                if not self._environment_checked:
                    self._check_environment(api)
                    self._environment_checked = True
                yield api
            except (KeyError, TypeError, AttributeError) as error:
                missing = (
                    f"no {error.args[0]!r} in its answer"
                    if isinstance(error, KeyError)
                    else ("an answer of another shape")
                )
                raise BackoutError(
                    f"the server at {settings.url} answered unlike Unleash ({missing})",
                    hint=f"is {_WHERE}.url the base URL of an Unleash server (5 or later)?",
                ) from None

    def _token(self) -> str:
        """The admin token, remembered as a secret so that no message or log can show it."""
        settings = self._settings
        if settings.token is not None:
            token = settings.token.get_secret_value()
        else:
            name = str(settings.token_env)
            token = os.environ.get(name, "").strip()
            if not token:
                raise ConfigError(
                    str(self._config_file),
                    [f"{_WHERE}.token_env: the environment variable {name} is not set"],
                    hint=f"export {name}=<an Unleash admin API token or personal access token>",
                )
        remember_secret(token)
        return token

    def _check_environment(self, api: _AdminApi) -> None:
        """Unleash serves every flag as off in an environment it does not have: refuse that."""
        project = self._settings.project
        listed = api.get(f"/api/admin/environments/project/{_segment(project)}")["environments"]
        enabled = [e["name"] for e in listed if e.get("enabled", True) and e.get("visible", True)]
        if not enabled:
            raise NotFoundError(
                f"Unleash project {project!r} has no enabled environment",
                hint=f"is {_WHERE}.project right? (Unleash's default project is 'default')",
            )
        if self._environment not in enabled:
            raise NotFoundError(
                f"Unleash project {project!r} has no enabled environment {self._environment!r}",
                hint=f"its environments: {', '.join(enabled)}; set {_WHERE}.environment",
            )

    def _environment_path(self, key: str) -> str:
        feature = f"{self._project_path}/features/{_segment(key)}"
        return f"{feature}/environments/{_segment(self._environment)}"

    def _feature(self, api: _AdminApi, key: str) -> dict[str, Any]:
        try:
            feature: dict[str, Any] = api.get(
                f"{self._project_path}/features/{_segment(key)}",
                params={"variantEnvironments": "true"},
            )
        except NotFoundError:
            known = sorted(f["name"] for f in api.get(f"{self._project_path}/features")["features"])
            raise NotFoundError(
                f"unknown flag {key!r} in Unleash project {self._settings.project!r}",
                hint=f"flags: {', '.join(known) or '(none)'}",
            ) from None
        return feature

    def _environment_of(self, feature: dict[str, Any]) -> dict[str, Any]:
        for environment in feature.get("environments", []):
            if environment.get("name") == self._environment:
                return dict(environment)
        raise NotFoundError(f"flag {feature['name']!r} has no environment {self._environment!r}")

    def _active_strategies(self, api: _AdminApi, key: str) -> list[dict[str, Any]]:
        return _active(self._environment_of(self._feature(api, key)))

    def _read(self, api: _AdminApi, key: str) -> Flag:
        feature = self._feature(api, key)
        environment = self._environment_of(feature)
        return Flag(
            key=feature["name"],
            enabled=bool(environment.get("enabled")),
            strategies=[_client_strategy(s) for s in _active(environment)],
            variants=list(environment.get("variants", [])),
            description=feature.get("description") or "",
            to_remove=bool(feature.get("stale")),
        )


class _AdminApi:
    """Requests to one Unleash server, its failures translated into backout's errors."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self._client = client
        self._url = url

    def get(self, path: str, *, params: dict[str, str] | None = None) -> Any:
        response = self._send("GET", path, "read the flags", params=params)
        try:
            return response.json()
        except ValueError:
            raise BackoutError(
                f"{self._url}{path} did not answer JSON",
                hint=f"is {_WHERE}.url the base URL of an Unleash server?",
            ) from None

    def post(self, path: str, what: str, *, json: Any = None) -> None:
        self._send("POST", path, what, json=json)

    def patch(self, path: str, what: str, *, json: Any) -> None:
        self._send("PATCH", path, what, json=json)

    def _send(self, method: str, path: str, what: str, **options: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **options)
        except httpx.TimeoutException as error:
            raise UnavailableError(
                f"the Unleash server at {self._url} did not answer in time ({error!r})",
                hint=f"is it overloaded? {_WHERE}.timeout sets the time allowed",
            ) from None
        except httpx.TransportError as error:
            raise UnavailableError(
                f"the Unleash server at {self._url} is not reachable ({error})",
                hint=f"is it running, and is {_WHERE}.url right?",
            ) from None
        if response.is_error:
            raise _refusal(response, self._url, what)
        return response


def _refusal(response: httpx.Response, url: str, what: str) -> BackoutError:
    """Unleash's answer to a request it refused, as the backout error a person can act on."""
    status, said = response.status_code, _unleash_message(response)
    if status == httpx.codes.UNAUTHORIZED:
        return BackoutError(
            f"the Unleash server at {url} refused the token: {said}",
            hint=f"{_WHERE}.token (or token_env) must be an admin API token or a personal "
            "access token",
        )
    if status == httpx.codes.FORBIDDEN:
        return BackoutError(
            f"the Unleash server at {url} does not let this token {what}: {said}",
            hint="use a token whose user may change flags in this project and environment",
        )
    if status in _GATEWAY_ERRORS:
        return UnavailableError(f"the Unleash server at {url} answered {status}: {said}")
    if not _answers_json(response):  # a web server or a proxy, not Unleash: its page is noise
        return BackoutError(
            f"{response.request.url.copy_with(query=None)} did not answer JSON (HTTP {status})",
            hint=f"is {_WHERE}.url the base URL of an Unleash server?",
        )
    if status == httpx.codes.NOT_FOUND:
        return NotFoundError(f"the Unleash server at {url}: {said}")
    return BackoutError(f"the Unleash server at {url} refused to {what} ({status}): {said}")


def _answers_json(response: httpx.Response) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


def _unleash_message(response: httpx.Response) -> str:
    """Unleash's own words ({"message": ..., "details": [{"message": ...}]}), else the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:_MOST_SAID] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)[:_MOST_SAID]
    message = str(body.get("message") or body.get("name") or response.reason_phrase)
    details = [
        str(d["message"])
        for d in body.get("details") or []
        if isinstance(d, dict) and "message" in d
    ]
    extra = [d for d in details if d not in message]
    said = "; ".join([message, *extra])
    # A server's words go into a message a person reads: a few lines, never megabytes.
    return said if len(said) <= _MOST_SAID else said[: _MOST_SAID - 1] + "…"


def _active(environment: dict[str, Any]) -> list[dict[str, Any]]:
    """The strategies of a feature environment that count: Unleash skips disabled ones."""
    return [s for s in environment.get("strategies", []) if not s.get("disabled")]


def _client_strategy(strategy: dict[str, Any]) -> dict[str, Any]:
    """An admin API strategy in the shape the client API serves it."""
    shaped = {
        "name": strategy["name"],
        "constraints": list(strategy.get("constraints") or []),
        "parameters": dict(strategy.get("parameters") or {}),
        "variants": list(strategy.get("variants") or []),
    }
    if strategy.get("segments"):
        shaped["segments"] = list(strategy["segments"])
    return shaped


def _gradual_rollout(key: str, percent: int) -> dict[str, Any]:
    """The strategy backout adds to a flag without one: sticky on the user, grouped by key."""
    parameters = {"rollout": str(percent), "stickiness": "default", "groupId": key}
    return {"name": GRADUAL_ROLLOUT, "parameters": parameters, "constraints": []}


def _segment(value: str) -> str:
    """A name as one path segment of a URL."""
    return quote(value, safe="")
