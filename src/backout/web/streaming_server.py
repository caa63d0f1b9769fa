"""A uvicorn server that ends the flag streams when it starts to shut down.

uvicorn's graceful shutdown waits for every open response to finish before it runs the app's
lifespan shutdown, and a server-sent-event stream never finishes by itself: with one SDK
connected, `backout serve` would wait forever after Ctrl-C or SIGTERM. This server closes the
flag feed first, which ends every stream within a moment; the SDKs reconnect elsewhere, or to
this server when it is back.
"""

from __future__ import annotations

import socket

import uvicorn

from backout.web.flag_feed import FlagFeed


class StreamingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, feed: FlagFeed) -> None:
        super().__init__(config)
        self.feed = feed

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.feed.close()
        await super().shutdown(sockets)
