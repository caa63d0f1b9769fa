"""Where a notification goes: its target, by a key that names it without its URL.

A target's key is stored with each queued notification (`channel:team-slack:0`,
`email:Alice`, `sms:Alice`); its URL is looked up in the config only when it is sent, so that
no URL, and no secret in one, is ever written to the store. `${VAR}` in a URL is read from the
environment then, and its value is masked wherever text leaves backout.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import quote

from backout.config import Config, Contact
from backout.config.notifications import ENV_REFERENCE
from backout.errors import ConfigError
from backout.redact import remember_secret

_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*)://")


@dataclass(frozen=True)
class Target:
    key: str
    label: str  # what people read: the channel's name and the URL's scheme, never the URL


def audience_targets(config: Config, audience: str) -> list[Target]:
    """Every target of an audience: its channels, then its contacts' (each target once)."""
    wanted = config.notifications.audiences[audience]
    found: list[Target] = []
    for channel in wanted.channels:
        _add(found, channel_targets(config, channel))
    for contact in config.contacts_for([*wanted.contacts, *wanted.roles]):
        _add(found, contact_targets(config, contact))
    return found


def _add(found: list[Target], targets: list[Target]) -> None:
    found.extend(t for t in targets if t.key not in {f.key for f in found})


def channel_targets(config: Config, channel: str) -> list[Target]:
    urls = config.notifications.channel_urls(channel)
    return [
        Target(f"channel:{channel}:{i}", _label(channel, url, i if len(urls) > 1 else None))
        for i, url in enumerate(urls)
    ]


def contact_targets(config: Config, contact: Contact) -> list[Target]:
    """A contact's own channels, then their e-mail and phone (where notifications.email and
    notifications.sms say how to reach one)."""
    targets: list[Target] = []
    for channel in contact.channels:
        _add(targets, channel_targets(config, channel))
    settings = config.notifications
    if contact.email and settings.email is not None:
        targets.append(Target(f"email:{contact.name}", f"{contact.name} by e-mail"))
    if contact.phone and settings.sms is not None:
        targets.append(Target(f"sms:{contact.name}", f"{contact.name} by SMS"))
    return targets


def _label(channel: str, url: str, index: int | None) -> str:
    scheme = _SCHEME.match(url)
    which = f" #{index + 1}" if index is not None else ""
    return f"{channel}{which} ({scheme[1] if scheme else '?'})"


def label_of(config: Config, key: str) -> str:
    """The label of a stored target key (the key itself if the config no longer has it)."""
    kind, _, rest = key.partition(":")
    if kind == "channel":
        channel, _, index = rest.rpartition(":")
        if channel in config.notifications.channels and index.isdigit():
            urls = config.notifications.channel_urls(channel)
            if int(index) < len(urls):
                return _label(channel, urls[int(index)], int(index) if len(urls) > 1 else None)
    if kind in ("email", "sms"):
        return f"{rest} by {'e-mail' if kind == 'email' else 'SMS'}"
    return key


def url_of(config: Config, key: str) -> str:
    """The URL to send to, `${VAR}` filled in; ConfigError (naming the key) if the target is
    gone from the config or a variable is not set."""
    settings = config.notifications
    kind, _, rest = key.partition(":")
    where, url = "notifications", None
    if kind == "channel":
        channel, _, index = rest.rpartition(":")
        where = f"notifications.channels.{channel}"
        if channel in settings.channels and int(index) < len(settings.channels[channel]):
            url = settings.channel_urls(channel)[int(index)]
    elif kind in ("email", "sms"):
        url = _contact_url(config, kind, rest)
        where = f"notifications.{kind}"
    if url is None:
        raise ConfigError(str(config.source), [f"{where}: no longer reaches {key}"])
    return _expand(url, where, config)


def _contact_url(config: Config, kind: str, name: str) -> str | None:
    contact = next((c for c in config.contacts if c.name == name), None)
    base = config.notifications.email if kind == "email" else config.notifications.sms
    if contact is None or base is None:
        return None
    url = base.get_secret_value()
    if kind == "email" and contact.email:
        return f"{url}{'&' if '?' in url else '?'}to={quote(contact.email, safe='@')}"
    if kind == "sms" and contact.phone:
        return f"{url.rstrip('/')}/{quote(contact.phone, safe='+')}"
    return None


def _expand(url: str, where: str, config: Config) -> str:
    def value(match: re.Match[str]) -> str:
        name = match[1]
        found = os.environ.get(name)
        if found is None:
            raise ConfigError(
                str(config.source),
                [f"{where}: ${{{name}}} is used but the environment variable {name} is not set"],
            )
        remember_secret(found)
        return found

    return ENV_REFERENCE.sub(value, url)


def missing_variables(config: Config) -> list[str]:
    """Problems of the channels' `${VAR}`s in this environment, one line each (for check)."""
    settings = config.notifications
    urls = [
        (f"notifications.channels.{n}", u)
        for n in settings.channels
        for u in settings.channel_urls(n)
    ]
    urls += [
        (f"notifications.{k}", s.get_secret_value())
        for k, s in (("email", settings.email), ("sms", settings.sms))
        if s is not None
    ]
    return [
        f"{where}: the environment variable {name} is not set"
        for where, url in urls
        for name in ENV_REFERENCE.findall(url)
        if name not in os.environ
    ]
