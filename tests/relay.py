"""A loopback TCP relay in front of a real server, which a test can cut and restore.

It stands for the network between the gateway and a database: `cut` drops every relayed
connection and stops listening (the database "does not answer"), `restore` listens again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from tests.servers import free_port

_CHUNK = 65536


class TcpRelay:
    """Relays 127.0.0.1:`port` to `target_host`:`target_port`, in its own event-loop thread."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        """Pick a free port; nothing listens until `restore`."""
        self.port = free_port()
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread.start()

    def restore(self) -> None:
        """Listen and relay again."""
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=5)

    def cut(self) -> None:
        """Stop listening and drop every relayed connection."""
        asyncio.run_coroutine_threadsafe(self._cut(), self._loop).result(timeout=5)

    def close(self) -> None:
        """Cut, then end the relay's thread."""
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )
        for end in (writer, up_writer):
            self._writers.discard(end)
            end.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    writer.transport.abort()


@contextlib.contextmanager
def tcp_relay(target_port: int) -> Iterator[TcpRelay]:
    """A listening relay to 127.0.0.1:`target_port`, closed afterwards."""
    relay = TcpRelay(target_port)
    relay.restore()
    try:
        yield relay
    finally:
        relay.close()
