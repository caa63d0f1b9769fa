"""`backout notify deliver|test|list`: the notifications outbox from the command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from backout.cli._common import ConfigOption, JsonOption, runtime, say
from backout.errors import BackoutError, NotFoundError
from backout.notify.delivery import Deliverer
from backout.notify.outbox import recent_notifications
from backout.notify.sender import SendFailed, send
from backout.notify.targets import channel_targets, label_of, url_of

notify_app = typer.Typer(
    help="Notifications: send what is queued (for cron), test a channel.", no_args_is_help=True
)


@notify_app.command("deliver")
def deliver(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """One pass: queue prolonged-outage notices and escalations that are due, send what is
    due (for cron, where no `backout watch` or `serve` runs)."""
    with runtime(config) as rt:
        report = Deliverer(rt.config, rt.store).deliver_once()
    if as_json:
        print(json.dumps(report.__dict__))
    else:
        say(report.summary())


@notify_app.command("test")
def send_test(
    channel: Annotated[str, typer.Argument(help="A name under notifications.channels.")],
    config: ConfigOption = None,
) -> None:
    """Send a test message to every URL of CHANNEL now (not through the outbox)."""
    with runtime(config) as rt:
        settings = rt.config.notifications
        if channel not in settings.channels:
            known = ", ".join(settings.channels) or "(none)"
            raise NotFoundError(f"unknown channel {channel!r}", hint=f"channels: {known}")
        failed = []
        for target in channel_targets(rt.config, channel):
            try:
                url = url_of(rt.config, target.key)
                send(url, "backout test", f"A test message from backout ({rt.config.project}).",
                     timeout_s=settings.timeout.total_seconds())  # fmt: skip
            except (SendFailed, BackoutError) as error:
                reason = error.reason if isinstance(error, SendFailed) else error.message
                failed.append(f"{target.label}: {reason}")
            else:
                say(f"sent to {target.label}")
    if failed:
        raise BackoutError("could not send to " + "; ".join(failed))


@notify_app.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The newest notifications: to whom, when, their state and attempts."""
    with runtime(config) as rt:
        rows = recent_notifications(rt.store, limit)
        shown = [row | {"target": label_of(rt.config, row["target"])} for row in rows]
    if as_json:
        print(json.dumps(shown, default=str))
        return
    for row in shown:
        error = f" — {row['last_error']}" if row["last_error"] else ""
        when = row["sent_at"] or row["created_at"]  # sent, else queued
        say(
            f"{row['id']:>5} {when:%Y-%m-%d %H:%M:%S} {row['state']:<9} {row['audience']} "
            f"through {row['target']} ({row['moment']}, {row['attempts']} "
            f"attempt{'' if row['attempts'] == 1 else 's'}): {row['title']}{error}"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(notify_app, name="notify")
