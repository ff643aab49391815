"""A small TCP load balancer for tests: one address in front of several gateways.

Round robin over the backends; a backend that refuses the connection (stopped, or
stopping) is skipped for the next, as nginx's `proxy_next_upstream error` does in
deploy/nginx.conf. Bytes are piped both ways untouched, so websockets, subprotocols and
Basic auth pass through as they would through the real proxy.
"""

from __future__ import annotations

import asyncio
import contextlib


class Balancer:
    def __init__(self, backends: list[int], host: str = "127.0.0.1"):
        self.backends = list(backends)
        self.host = host
        self.port = 0
        self.landed: dict[int, int] = dict.fromkeys(self.backends, 0)  # connections per backend
        self._next = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> Balancer:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and cut every piped connection."""
        if self._server:
            self._server.close()
        for writer in list(self._open):
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        upstream = None
        first = self._next  # taken before any await: connections arriving together spread
        self._next = (first + 1) % len(self.backends)
        for attempt in range(len(self.backends)):
            port = self.backends[(first + attempt) % len(self.backends)]
            try:
                upstream = await asyncio.open_connection(self.host, port)
            except OSError:
                continue
            self.landed[port] += 1
            break
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._open -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
