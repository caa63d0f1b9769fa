"""backout's own flag client: an app's flags from `backout serve`, evaluated in the app.

    flags = FlagClient("http://backout:8080/api", token, app_name="checkout",
                       backup_path="/var/lib/checkout/flags.json")
    flags.start()
    if flags.is_enabled("new-checkout", {"userId": user.id}): ...
    flags.stop()

It asks backout's Unleash-compatible client API (the same URL the Unleash SDKs take), keeps the
last payload it got and evaluates every call locally with `Evaluator`, so a call costs no
request and the app keeps its flags while backout is down. With `push` (the default) it holds
the server-sent-event stream `/client/features/stream` open and sees a change as soon as the
server does (the server looks every 100 ms); when the stream breaks it polls
`/client/features` with If-None-Match every `poll_interval` while it tries the stream again.
With a `backup_path` each new payload is written there, and read at `start()` before the first
answer, as the Unleash SDKs' backup file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from backout import __version__
from backout.atomic import write_text_atomic
from backout.flags.evaluation import Evaluator, FlagPayloadError

log = logging.getLogger(__name__)

SDK_NAME = f"backout-flagclient:{__version__}"
STREAM_READ_TIMEOUT_S = 45.0  # three heartbeats missed: the stream is dead, reconnect
MAX_STREAM_RETRY_S = 30.0


class FlagClient:
    """The flags of one app, kept fresh in a background thread; see the module doc."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        app_name: str,
        instance_id: str | None = None,
        environment: str = "default",
        push: bool = True,
        poll_interval: float = 1.0,
        backup_path: Path | str | None = None,
        timeout_s: float = 5.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.app_name = app_name
        self.instance_id = instance_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.push = push
        self.poll_interval = poll_interval
        self.backup_path = Path(backup_path) if backup_path is not None else None
        self._static_context = {"appName": app_name, "environment": environment}
        self._on_change = on_change
        self._headers = {
            "Authorization": token,
            "UNLEASH-APPNAME": app_name,
            "UNLEASH-INSTANCEID": self.instance_id,
            "Unleash-SDK": SDK_NAME,
        }
        self._http = httpx.Client(timeout=timeout_s)
        self._evaluator = Evaluator.from_client_features({"features": []})
        self._etag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: httpx.Response | None = None
        self._lock = threading.Lock()
        self._failing = False
        self._stream_failing = False
        self.streaming = False  # whether the push stream is open right now

    # -- the app's side

    def is_enabled(self, name: str, context: Mapping[str, Any] | None = None) -> bool:
        """Whether flag `name` is on for `context`; an unknown flag, or no flags yet, is off."""
        return self._evaluator.is_enabled(name, self._context(context))

    def get_variant(self, name: str, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The variant of flag `name` for `context`, shaped as the Unleash SDKs return it."""
        return self._evaluator.get_variant(name, self._context(context))

    @property
    def server_reachable(self) -> bool:
        """Whether the last request to the server was answered (a health check may show it)."""
        return not self._failing

    @property
    def etag(self) -> str | None:
        """The ETag of the payload in use; None before any came from the server."""
        return self._etag

    def start(self) -> None:
        """Read the backup file, ask the server once, then keep the flags fresh in a thread."""
        if self._thread is not None:
            return
        self._load_backup()
        self._poll()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="backout-flags", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (closing the stream at once) and the HTTP client; the flags stay."""
        self._stop.set()
        self._interrupt_stream()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self._http.close()

    def __enter__(self) -> FlagClient:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _context(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        return {**self._static_context, **(context or {})}

    # -- the thread's side

    def _run(self) -> None:
        """The thread: never ends on an error of its own, so the flags never freeze silently."""
        self._register()
        while not self._stop.is_set():
            try:
                self._keep_fresh()
            except Exception:
                log.exception(
                    "the flag client's thread failed; going on in %ss", self.poll_interval
                )
                self._stop.wait(self.poll_interval)

    def _keep_fresh(self) -> None:
        retry_s = 1.0
        while not self._stop.is_set():
            if not self.push:
                self._stop.wait(self.poll_interval)
                self._poll()
                continue
            streamed = self._stream_until_it_breaks()
            retry_s = 1.0 if streamed else min(retry_s * 2, MAX_STREAM_RETRY_S)
            self._poll_for(retry_s)

    def _poll_for(self, seconds: float) -> None:
        """Poll now and every `poll_interval` for `seconds` (until the stream is tried again)."""
        self._poll()
        waited = 0.0
        while waited < seconds and not self._stop.wait(min(self.poll_interval, seconds - waited)):
            waited += self.poll_interval
            self._poll()

    def _poll(self) -> None:
        """One conditional GET of the flags; a failure keeps the flags as they are."""
        headers = dict(self._headers)
        if self._etag:
            headers["If-None-Match"] = self._etag
        try:
            response = self._http.get(f"{self.url}/client/features", headers=headers)
        except httpx.HTTPError as error:
            self._note_failure(f"{type(error).__name__}: {error}")
            return
        if response.status_code == 304:
            self._note_success()
            return
        if response.status_code != 200:
            self._note_failure(f"HTTP {response.status_code}: {response.text[:200]}")
            return
        self._note_success()
        self._apply_text(response.text, response.headers.get("etag"))

    def _stream_until_it_breaks(self) -> bool:
        """Read the event stream until it ends; True when it was open at some point."""
        headers = {**self._headers, "Accept": "text/event-stream"}
        timeout = httpx.Timeout(self._http.timeout.connect, read=STREAM_READ_TIMEOUT_S)
        url = f"{self.url}/client/features/stream"
        opened = False
        try:
            with self._http.stream("GET", url, headers=headers, timeout=timeout) as response:
                if response.status_code != 200:
                    response.read()
                    self._note_stream_failure(f"HTTP {response.status_code}: {response.text}")
                    return False
                opened = True
                self._stream_opened(response)
                for event, data, event_id in _server_sent_events(response.iter_lines()):
                    if event == "features":
                        self._apply_text(data, event_id or None)
        except (httpx.HTTPError, OSError) as error:
            if not self._stop.is_set():
                self._note_stream_failure(f"{type(error).__name__}: {error}")
        finally:
            self._stream_closed()
        return opened

    def _stream_opened(self, response: httpx.Response) -> None:
        with self._lock:
            self._stream = response
            self.streaming = True
        if self._stop.is_set():  # stop() came before the stream was known to it
            self._interrupt_stream()
        self._note_success()
        if self._stream_failing:
            log.info("flag stream from %s open again", self.url)
        self._stream_failing = False

    def _stream_closed(self) -> None:
        with self._lock:
            self._stream = None
            self.streaming = False

    def _interrupt_stream(self) -> None:
        """Wake the thread blocked reading the stream: shut its socket down under it."""
        with self._lock:
            response = self._stream
        if response is None:
            return
        network = response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _register(self) -> None:
        body = {
            "appName": self.app_name,
            "instanceId": self.instance_id,
            "sdkVersion": SDK_NAME,
            "strategies": [],
            "started": datetime.now(UTC).isoformat(),
            "interval": int(self.poll_interval * 1000),
        }
        try:
            self._http.post(f"{self.url}/client/register", json=body, headers=self._headers)
        except httpx.HTTPError as error:
            log.debug("flag client registration failed: %s", error)

    # -- payloads

    def _apply_text(self, text: str, etag: str | None) -> None:
        if etag is not None and etag == self._etag:
            return
        try:
            payload = json.loads(text)
            evaluator = Evaluator.from_client_features(payload)
        except (ValueError, FlagPayloadError) as error:
            log.warning("flags from %s not usable, keeping the last ones: %s", self.url, error)
            return
        self._evaluator, self._etag = evaluator, etag
        self._save_backup(text)
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception:  # the app's callback must not stop the updates
                log.exception("on_change of the flag client failed")

    def _load_backup(self) -> None:
        if self.backup_path is None or not self.backup_path.exists():
            return
        try:
            payload = json.loads(self.backup_path.read_text(encoding="utf-8"))
            self._evaluator = Evaluator.from_client_features(payload)
        except (OSError, ValueError, FlagPayloadError) as error:
            log.warning("flag backup %s not usable: %s", self.backup_path, error)
            return
        log.info("flags loaded from the backup %s", self.backup_path)

    def _save_backup(self, text: str) -> None:
        if self.backup_path is None:
            return
        try:
            write_text_atomic(self.backup_path, text)
        except OSError as error:
            log.warning("flag backup %s not written: %s", self.backup_path, error)

    def _note_failure(self, reason: str) -> None:
        """Log the first failure of a streak, not every poll of a server that is down."""
        if not self._failing:
            log.warning("flags from %s unavailable, keeping the last ones: %s", self.url, reason)
        self._failing = True

    def _note_stream_failure(self, reason: str) -> None:
        if not self._stream_failing:
            log.warning("flag stream from %s broke, polling meanwhile: %s", self.url, reason)
        self._stream_failing = True

    def _note_success(self) -> None:
        if self._failing:
            log.info("flags from %s available again", self.url)
        self._failing = False


def _server_sent_events(lines: Iterator[str]) -> Iterator[tuple[str, str, str]]:
    """(event, data, id) of each event of a text/event-stream; comments are skipped."""
    event, event_id = "message", ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data), event_id
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
