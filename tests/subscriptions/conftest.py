"""Fixtures of the subscription suite: real server processes on this test's
database (see support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.subscriptions.support import Server, ServerFactory, start_server


@pytest_asyncio.fixture(loop_scope="session")
async def serve(database_url: str, tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """`await serve(workers=N, PETSTORE_…="…")` starts `graphql-petstore serve`
    on this test's database; every server started is stopped afterwards."""
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


@pytest_asyncio.fixture(loop_scope="session")
async def server(serve: ServerFactory) -> Server:
    """One server with the defaults of this suite (poll interval 0.5 s)."""
    return await serve()
