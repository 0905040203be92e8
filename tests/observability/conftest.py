"""Real `graphql-petstore serve` processes on this test's database, as in the
subscription suite (tests/subscriptions/support.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio

from graphql_petstore.observability.line_batches import FLUSH_DELAY
from tests.observability.scrapes import Samples, parse
from tests.subscriptions.support import Server, ServerFactory, start_server

# Far more than line_batches.FLUSH_DELAY: the machine may be loaded.
ACCESS_LINES_WITHIN = 5.0


@pytest_asyncio.fixture(loop_scope="session")
async def serve(database_url: str, tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """`await serve(workers=N, PETSTORE_…="…")`; every server started is stopped afterwards."""
    started: list[Server] = []

    async def start(*, workers: int = 1, **env: str) -> Server:
        server = await start_server(database_url, tmp_path, workers=workers, **env)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in reversed(started):
            await server.close()


async def scrape(server: Server) -> Samples:
    response = await server.http.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


async def fresh_connection_post(server: Server, body: dict[str, object], token: str = "") -> object:
    """One request on a connection of its own, so that the kernel may hand it
    to any worker."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def access_lines(
    server: Server, complete: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The access lines in the server's log once `complete` says all are there:
    a running server writes them within line_batches.FLUSH_DELAY of each other."""
    deadline = time.monotonic() + ACCESS_LINES_WITHIN
    while True:
        lines = [
            line
            for line in map(json.loads, server.log_path.read_text().splitlines())
            if line.get("logger") == "graphql_petstore.access"
        ]
        if complete(lines):
            return lines
        assert time.monotonic() < deadline, lines
        await asyncio.sleep(FLUSH_DELAY)
