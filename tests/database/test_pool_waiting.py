"""The lean pool's queue of requests that wait for a connection: each waits
its own `timeout` from when it came, however many wait, and one that is
cancelled takes nothing with it (graphql_petstore.database.pool)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from graphql_petstore.database.pool import ConnectionPool, PoolTimeoutError

TIMEOUT = 0.4


@pytest_asyncio.fixture(loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[ConnectionPool]:
    one = ConnectionPool(database_url, 1, timeout=TIMEOUT, server_settings={})
    try:
        yield one
    finally:
        await one.close()


async def _wait_for_one(pool: ConnectionPool) -> float:
    """Seconds until this checkout was refused."""
    started = time.monotonic()
    with pytest.raises(PoolTimeoutError, match=r"within 0\.4 s"):
        async with pool.connection():
            pass
    return time.monotonic() - started


async def test_every_waiter_is_refused_at_its_own_deadline(pool: ConnectionPool) -> None:
    async with pool.connection():
        first = asyncio.ensure_future(_wait_for_one(pool))
        await asyncio.sleep(TIMEOUT / 2)
        second = asyncio.ensure_future(_wait_for_one(pool))
        await asyncio.sleep(0.01)
        assert pool.waiting == 2
        waited = await asyncio.gather(first, second)
    # Neither refused early (with the first waiter's timer; uvloop's clock counts
    # milliseconds), nor late.
    assert all(TIMEOUT - 0.005 <= seconds < TIMEOUT + 0.3 for seconds in waited), waited
    assert pool.waiting == 0


async def test_a_connection_freed_in_time_goes_to_the_first_waiter_still_waiting(
    pool: ConnectionPool,
) -> None:
    held = pool.connection()
    conn = await held.__aenter__()
    gone = asyncio.ensure_future(pool.connection().__aenter__())
    await asyncio.sleep(0.01)

    async def served() -> int:
        async with pool.connection() as served:
            return await served.fetchval("select 1")

    waiting = asyncio.ensure_future(served())
    await asyncio.sleep(0.01)
    gone.cancel()  # its client left: it must not take the connection along
    await asyncio.sleep(0.01)
    await held.__aexit__(None, None, None)
    assert await waiting == 1
    assert gone.cancelled()
    # The connection came back, and the one timer left set fails nobody.
    await asyncio.sleep(TIMEOUT + 0.1)
    async with pool.connection() as again:
        assert again is conn
