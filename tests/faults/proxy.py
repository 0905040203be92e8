"""A TCP relay between the server and PostgreSQL whose connections the test
can cut: the network gone, as a failing switch or a NAT timeout leaves it.

Cut connections are aborted on both sides at once, whatever is in flight:
a statement that reached PostgreSQL runs (and may commit) while its answer
is lost, which is the case the server must settle by looking the event up.
While cut, new connections are refused too.
"""

from __future__ import annotations

import asyncio
import contextlib

CHUNK = 65_536


class Proxy:
    def __init__(self, upstream_port: int, upstream_socket: str | None = None) -> None:
        """To PostgreSQL on 127.0.0.1:`upstream_port`, or on the unix socket
        `upstream_socket` (a path) when given."""
        self.upstream_port = upstream_port
        self.upstream_socket = upstream_socket
        self.port = 0
        self.cuts = 0
        self._down = False
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def cut(self) -> int:
        """Aborts every connection and refuses new ones until restore()."""
        self._down = True
        links = list(self._links)
        for client, upstream in links:
            client.transport.abort()
            upstream.transport.abort()
        self._links.clear()
        self.cuts += len(links)
        return len(links)

    def restore(self) -> None:
        self._down = False

    async def _link(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        if self._down:
            client.transport.abort()
            return
        try:
            if self.upstream_socket is not None:
                upstream_reader, upstream = await asyncio.open_unix_connection(self.upstream_socket)
            else:
                upstream_reader, upstream = await asyncio.open_connection(
                    "127.0.0.1", self.upstream_port
                )
        except OSError:
            client.transport.abort()
            return
        link = (client, upstream)
        self._links.add(link)
        try:
            await asyncio.gather(_pipe(client_reader, upstream), _pipe(upstream_reader, client))
        finally:
            self._links.discard(link)
            client.transport.abort()
            upstream.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        writer.write_eof()
