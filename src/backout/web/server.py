"""serve(): run the API under uvicorn until Ctrl-C or SIGTERM, then stop the threads and return."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn

from backout.errors import UnavailableError
from backout.runtime import Runtime
from backout.web.app import create_app
from backout.web.streaming_server import StreamingServer


class _Terminated(Exception):
    """SIGTERM, turned into an exception so `serve()` returns instead of the process dying."""


def serve(
    runtime: Runtime, *, host: str, port: int, watch: bool = True, access_log: bool = False
) -> None:
    """Answer on host:port until Ctrl-C or SIGTERM; blocks. The lifespan stops the threads.
    Requests are not logged unless `access_log`: a log line per request costs throughput, and
    the audit log already records every change and who made it."""
    app = create_app(runtime, watch=watch)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=access_log)
    server = StreamingServer(config, app.state.flag_feed)  # ends flag streams on shutdown
    with _sigterm_raises():
        try:
            server.run()
        except (KeyboardInterrupt, _Terminated):
            # uvicorn shut down gracefully, then re-raised the signal it caught.
            return
        except SystemExit:
            raise UnavailableError(
                f"the API server could not start on {host}:{port}",
                hint="the log above says why; is another process using the port? (--port)",
            ) from None


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """uvicorn re-raises the signal it stopped on; by default SIGTERM would kill the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated
