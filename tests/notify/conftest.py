"""Real receivers for notifications on loopback — an HTTP server taking Apprise's json://
posts, an aiosmtpd SMTP server taking its mailto:// e-mails — and a site (tests/runs) whose
backout.yaml tells them about its incidents."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller as SmtpController
from sqlalchemy import select

from backout.notify.delivery import Deliverer
from backout.runtime import Runtime
from backout.store import TimelineEvent, tables
from tests.prometheus_support import free_port
from tests.runs.conftest import Site


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g}s waiting for: {what}")
        time.sleep(0.02)


def answers_200(url: str) -> bool:
    """Whether `url` answers 200 now (a server still starting, or gone, does not)."""
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class Receiver:
    """A webhook on 127.0.0.1:`port` recording the JSON Apprise posts; `stop()` makes it a
    dead target (connection refused), `start()` brings it back on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        return [str(m.get("title", "")) for m in self.received]


class Mailbox:
    """An SMTP server on 127.0.0.1 (aiosmtpd) keeping each message it is given."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.port = free_port()
        self._controller = SmtpController(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content)
        self.messages.append({"to": ",".join(envelope.rcpt_tos), "subject": str(parsed["Subject"])})
        return "250 OK"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def url(self) -> str:
        return f"mailto://localhost:{self.port}?from=backout@localhost&smtp=127.0.0.1&mode=insecure"


class NotifySite(Site):
    """A tests/runs site whose config has `notifications`, `contacts` and `approvals`."""

    extra: dict[str, Any] = {}

    def configure(self, **settings: Any) -> None:
        settings.setdefault("health_command", "true")  # a verified recovery resolves the incident
        super().configure(**settings)
        config = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        config.update(self.extra)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def tell(self, extra: dict[str, Any]) -> None:
        self.extra = extra
        self.configure()

    def deliverer(self, at: datetime | None = None, holder: str = "test-deliverer") -> Deliverer:
        runtime = self.runtime()
        moment = at
        return Deliverer(
            runtime.config, runtime.store, holder=holder, now=(lambda: moment) if moment else None
        )

    def notifications(self) -> list[dict[str, Any]]:
        with self._store.connection() as connection:
            rows = connection.execute(
                select(tables.notifications).order_by(tables.notifications.c.id)
            )
            return [dict(row._mapping) for row in rows]

    def timeline(self, incident_id: int) -> list[tuple[str, str]]:
        with self._store.session() as session:
            events = session.scalars(
                select(TimelineEvent)
                .where(TimelineEvent.incident_id == incident_id)
                .order_by(TimelineEvent.id)
            )
            return [(e.kind, e.message) for e in events]


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    running = Mailbox()
    running.start()
    yield running
    running.stop()


@pytest.fixture
def nsite(tmp_path: Path) -> Iterator[NotifySite]:
    site = NotifySite(tmp_path)
    site.seed()
    yield site
    site.close()


def runtime_of(site: NotifySite) -> Runtime:
    return site.runtime()
