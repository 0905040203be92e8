"""A minimal HTTP/1.1 keep-alive client: cheap enough per request that the load
generator is not what a benchmark measures (api_bench's /healthz row shows its
capacity)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import time
from typing import Any
from urllib.parse import urlencode


class HttpConnection:
    """One HTTP/1.1 keep-alive connection: write a request, read one response."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader, self.writer = reader, writer
        return reader, writer

    async def open(self) -> int:
        """Connects now; returns the local port, by which the server's side of
        this connection can be found."""
        _, writer = await self._connect()
        return int(writer.get_extra_info("sockname")[1])

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            reader, writer = await self._connect()
        else:
            reader, writer = self.reader, self.writer
        writer.write(data)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        start = lower.find(b"\r\ncontent-length:")
        if start >= 0:
            end = lower.index(b"\r\n", start + 2)
            body = await reader.readexactly(int(lower[start + 17 : end]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
            body = b"".join(parts)
        else:
            body = await reader.read()
            await self.close()
        if b"\r\nconnection: close" in lower:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


class ConnectionPool:
    """Keep-alive connections to one server, taken one per request; a
    connection that failed is dropped and a new one made. A connection idle
    for `max_idle` seconds is not reused: the server may be closing it just
    then (uvicorn closes idle keep-alive connections after 5 s), and a request
    written into that close fails without reaching the server."""

    def __init__(self, host: str, port: int, max_idle: float = 3.0) -> None:
        self.host, self.port = host, port
        self.max_idle = max_idle
        self._idle: list[tuple[HttpConnection, float]] = []

    async def request(self, data: bytes) -> tuple[int, bytes]:
        connection = None
        while self._idle and connection is None:
            candidate, since = self._idle.pop()
            if time.monotonic() - since < self.max_idle:
                connection = candidate
            else:
                await candidate.close()
        if connection is None:
            connection = HttpConnection(self.host, self.port)
        try:
            answer = await connection.request(data)
        except BaseException:
            await connection.close()
            raise
        self._idle.append((connection, time.monotonic()))
        return answer

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop()[0].close()


class Requests:
    """Builds raw HTTP requests for one server."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host = host
        self.port = port
        self._post_head = (
            f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: "
        ).encode()

    def get(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()

    def graphql(
        self,
        query: str | None,
        variables: dict[str, Any] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> bytes:
        payload: dict[str, Any] = {} if query is None else {"query": query}
        if variables is not None:
            payload["variables"] = variables
        if extensions is not None:
            payload["extensions"] = extensions
        body = json.dumps(payload, separators=(",", ":")).encode()
        return self._post_head + str(len(body)).encode() + b"\r\n\r\n" + body

    def persisted_get(self, query: str, variables: dict[str, Any] | None = None) -> bytes:
        """The query as an automatic persisted query by GET: its hash alone."""
        params = {"extensions": _compact(persisted_query(query))}
        if variables is not None:
            params["variables"] = _compact(variables)
        return (
            f"GET /graphql?{urlencode(params)} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Accept: application/json\r\n\r\n"
        ).encode()


def persisted_query(query: str) -> dict[str, Any]:
    """The extensions of an automatic persisted query (Apollo's protocol)."""
    digest = hashlib.sha256(query.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def graphql_data(status: int, body: bytes) -> tuple[str | None, dict[str, Any]]:
    """(an error text or None, the response's data)."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}", {}
    document = json.loads(body)
    if document.get("errors"):
        return f"GraphQL errors: {json.dumps(document['errors'])[:250]}", {}
    data: dict[str, Any] = document.get("data") or {}
    return None, data
