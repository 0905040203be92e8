"""Real clients (Node, Chromium, Python's gql, curl) against a real server on
this test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.subscriptions.support import Server, start_server


@pytest_asyncio.fixture(loop_scope="session")
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[Server]:
    started = await start_server(database_url, tmp_path)
    try:
        yield started
    finally:
        await started.close()
