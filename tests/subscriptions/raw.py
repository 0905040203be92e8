"""A WebSocket client of either subprotocol that keeps every frame as the
text the server sent, by operation id: for comparing frames byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

from tests.subscriptions.support import RECEIVE_TIMEOUT, Endpoint, Server

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class RawSocket:
    def __init__(self, ws: AsyncWebSocketSession, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.frames: defaultdict[str | None, list[str]] = defaultdict(list)
        self.arrived = asyncio.Event()
        self.close_code: int | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                text = await self.ws.receive_text()
                message = json.loads(text)
                if message.get("type") in ("ping", "pong", "ka"):
                    if message["type"] == "ping":
                        await self.ws.send_json({"type": "pong"})
                    continue
                self.frames[message.get("id")].append(text)
                self.arrived.set()

    async def init(self, payload: dict[str, Any] | None = None) -> None:
        await self.ws.send_json({"type": "connection_init", "payload": payload or {}})
        deadline = time.monotonic() + RECEIVE_TIMEOUT
        while not self.frames[None]:
            assert time.monotonic() < deadline, "no connection_ack"
            await asyncio.sleep(0.01)
        assert json.loads(self.frames[None][0])["type"] == "connection_ack"

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": variables or {}}
        await self.ws.send_json({"id": op_id, "type": kind, "payload": payload})

    def items(self, op_id: str) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self.frames[op_id]]

    async def stop(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def raw_socket(
    server: Server | Endpoint,
    protocol: str,
    *,
    headers: dict[str, str] | None = None,
    init_payload: dict[str, Any] | None = None,
) -> AsyncIterator[RawSocket]:
    async with (
        httpx.AsyncClient(timeout=10) as http,
        aconnect_ws(
            server.graphql_url,
            http,
            subprotocols=[protocol],
            keepalive_ping_interval_seconds=None,
            headers=headers or {},
        ) as ws,
    ):
        client = RawSocket(ws, protocol)
        try:
            await client.init(init_payload)
            yield client
        finally:
            await client.stop()
