"""Real `graphql-petstore serve` processes on this test's database, as in the
subscription suite (tests/subscriptions/support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio

from tests.observability.scrapes import Samples, parse
from tests.subscriptions.support import Server, ServerFactory, start_server


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
