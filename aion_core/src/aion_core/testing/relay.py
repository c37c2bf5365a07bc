"""`TcpRelay`: a TCP relay to a server that can hold back what its clients send.

A client connected through the relay instead of the server sees a process whose
writes go out late (its event loop starved of CPU) or stop half-way (the process
frozen, SIGSTOP, between two writes); what the server sends comes at once.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["TcpRelay"]

_CHUNK = 65536


class TcpRelay:
    """Relays TCP connections from a local port to `host`:`port`; an async context manager.

    Args:
        host: The server's host.
        port: The server's port.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.delay = 0.0
        """Seconds what clients send reaches the server late (in order)."""
        self._allowance: int | None = None
        self.stalled = asyncio.Event()
        """Set once what clients send is held back (see `stall_after`)."""
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def port(self) -> int:
        """The local port clients connect to."""
        assert self._server is not None, "start the relay first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def stall_after(self, size: int) -> None:
        """Pass `size` more bytes of what clients send, then hold back all the rest for good."""
        self._allowance = size

    async def start(self) -> None:
        """Listen on a free local port."""
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop listening and cut every relayed connection."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        for relay in self._relays:
            relay.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)

    async def __aenter__(self) -> TcpRelay:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, server_writer]
        for relay in (self._send(reader, server_writer), self._receive(server_reader, writer)):
            task = asyncio.create_task(relay)
            self._relays.add(task)
            task.add_done_callback(self._relays.discard)

    def _passed(self, data: bytes) -> bytes:
        """What of `data` goes through now that some may be held back."""
        if self._allowance is None:
            return data
        passed, self._allowance = data[: self._allowance], max(0, self._allowance - len(data))
        if self._allowance == 0:
            self.stalled.set()
        return passed

    async def _send(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        due: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, data = await due.get()
                await asyncio.sleep(max(0.0, at - time.monotonic()))
                writer.write(data)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while data := await reader.read(_CHUNK):
                passed = self._passed(data)
                if passed:
                    due.put_nowait((time.monotonic() + self.delay, passed))
        finally:
            delivering.cancel()
            writer.close()

    async def _receive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
