"""The horizon watch (database/horizon.py): while an open transaction holds
committed events behind the stream's horizon, ClusterStatus says for how
long and whose it is, and a warning names it once the delay has passed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from graphql_petstore.database.cluster_status import ClusterStatus
from graphql_petstore.database.engine import create_pool
from graphql_petstore.database.horizon import HorizonWatch
from graphql_petstore.database.pool import ConnectionPool

WARNING_AFTER = 0.3


@pytest_asyncio.fixture(loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[ConnectionPool]:
    made = create_pool(database_url, 2)
    try:
        yield made
    finally:
        await made.close()


async def test_the_status_names_the_transaction_that_holds_the_stream_back_until_it_ends(
    pool: ConnectionPool,
    conn: asyncpg.Connection,
    postgres_server_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    status = ClusterStatus()
    watch = HorizonWatch(pool, status, WARNING_AFTER)
    await conn.execute(
        "insert into pet_arrived_events (pet_id, name, species, price)"
        " values (uuid_generate_v7(), 'Rex', 'Cat', 1)"
    )
    await watch.check()
    assert status.horizon_blocker is None
    assert status.horizon_held_seconds == 0

    elsewhere = await asyncpg.connect(
        postgres_server_url, server_settings={"application_name": "x"}
    )
    try:
        async with elsewhere.transaction():
            xid = int(await elsewhere.fetchval("select pg_current_xact_id()::text"))
            pid = await elsewhere.fetchval("select pg_backend_pid()")
            await conn.execute(
                "insert into pet_arrived_events (pet_id, name, species, price)"
                " values (uuid_generate_v7(), 'Tom', 'Cat', 1)"
            )
            deadline = time.monotonic() + 15
            while True:
                with caplog.at_level(logging.WARNING, "graphql_petstore.database.horizon"):
                    await watch.check()
                blocker = status.horizon_blocker
                if blocker is not None and blocker.xid == xid and "held back" in caplog.text:
                    break
                # Another session of a shared server may hold it first.
                assert time.monotonic() < deadline, (blocker, caplog.text)
                await asyncio.sleep(0.1)
            assert (blocker.pid, blocker.database, blocker.application) == (pid, "postgres", "x")
            assert status.horizon_held_seconds >= WARNING_AFTER
            assert f"transaction {xid} of backend {pid} in database 'postgres'" in caplog.text
    finally:
        await elsewhere.close()

    await watch.check()
    assert status.horizon_blocker is None
    assert status.horizon_held_seconds == 0
    await watch.stop()
