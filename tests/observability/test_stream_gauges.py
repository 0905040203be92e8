"""The stream gauges that /metrics reads from the database at scrape time
(head, events held back, the transaction holding the horizon), read as a
plain role without any privilege beyond SELECT on the event log: less than
the server's own role, petstore_api, has (tests/observability/
test_subscription_metrics.py reads them through a real server, as that role)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest_asyncio
from prometheus_client.metrics_core import Metric
from sqlalchemy.ext.asyncio import AsyncEngine

from graphql_petstore.database.engine import create_engine
from graphql_petstore.observability.exposition import HorizonClock, stream_gauges
from tests.subscriptions.support import sql_arrive

DEADLINE = 20.0


def as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


@pytest_asyncio.fixture(loop_scope="session")
async def plain_role(conn: asyncpg.Connection) -> AsyncIterator[str]:
    role = f"petstore_plain_{uuid.uuid4().hex[:8]}"
    await conn.execute(f'create role "{role}" login nosuperuser nocreatedb nocreaterole')
    await conn.execute(f'grant select on pet_event_log to "{role}"')
    try:
        yield role
    finally:
        await conn.execute(f'revoke select on pet_event_log from "{role}"')
        await conn.execute(f'drop role "{role}"')


@pytest_asyncio.fixture(loop_scope="session")
async def reader(database_url: str, plain_role: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(as_user(database_url, plain_role), 2)
    try:
        yield engine
    finally:
        await engine.dispose()


def gauges(families: list[Metric]) -> dict[str, float]:
    return {family.name: family.samples[0].value for family in families}


async def read(engine: AsyncEngine, clock: HorizonClock) -> dict[str, float]:
    return gauges(await stream_gauges(engine, clock))


async def test_a_plain_role_sees_which_transaction_holds_the_horizon_but_not_since_when(
    postgres_server_url: str, plain_role: str, database_url: str
) -> None:
    """Why the horizon's age falls back to "since first seen" for other roles."""
    holder = await asyncpg.connect(postgres_server_url)
    plain = await asyncpg.connect(as_user(database_url, plain_role))
    try:
        async with holder.transaction():
            xid = await holder.fetchval("select pg_current_xact_id()::text")
            pid = holder.get_server_pid()
            row = await plain.fetchrow(
                "select backend_xid::text as xid, xact_start from pg_stat_activity where pid = $1",
                pid,
            )
        assert row is not None
        assert row["xid"] == xid
        assert row["xact_start"] is None
    finally:
        await holder.close()
        await plain.close()


async def test_stream_gauges_show_events_held_back_by_an_open_transaction_elsewhere(
    postgres_server_url: str,
    conn: asyncpg.Connection,
    reader: AsyncEngine,
    database_url: str,
    plain_role: str,
) -> None:
    clock = HorizonClock()
    quiet = await read(reader, clock)
    assert quiet["petstore_database_up"] == 1
    assert quiet["petstore_stream_head_transaction_id"] == 0  # no event yet
    assert quiet["petstore_stream_held_back_events"] == 0

    # A transaction in another database of the cluster, by another role,
    # holds the horizon: the event committed after it stays invisible.
    holder = await asyncpg.connect(postgres_server_url)
    try:
        async with holder.transaction():
            await holder.fetchval("select pg_current_xact_id()")
            await sql_arrive(conn, "Held")
            first = await read(reader, clock)
            await asyncio.sleep(0.05)
            second = await read(reader, clock)
    finally:
        await holder.close()
    for held in (first, second):
        assert held["petstore_stream_held_back_events"] == 1
        assert held["petstore_stream_head_transaction_id"] == 0
        assert held["petstore_stream_horizon_in_other_database"] == 1
    assert second["petstore_stream_horizon_age_seconds"] > 0

    tx_id = int(await conn.fetchval("select tx_id::text from pet_event_log"))
    released = await eventually(reader, clock, lambda g: g["petstore_stream_held_back_events"] == 0)
    assert released["petstore_stream_head_transaction_id"] == tx_id

    # The server's own role sees its own sessions whole: the age is exact.
    own = await asyncpg.connect(as_user(database_url, plain_role))
    try:
        async with own.transaction():
            await own.fetchval("select pg_current_xact_id()")
            await own.fetchval("select pg_sleep(0.2)")
            mine = await eventually(
                reader,
                HorizonClock(),
                lambda g: g["petstore_stream_horizon_in_other_database"] == 0,
            )
    finally:
        await own.close()
    # A fresh clock has never seen it: only an exact start gives this age.
    assert mine["petstore_stream_horizon_age_seconds"] >= 0.2


async def eventually(
    engine: AsyncEngine, clock: HorizonClock, condition: object
) -> dict[str, float]:
    """The gauges once `condition` holds (other sessions of a shared server
    may hold the horizon for a moment)."""
    deadline = time.monotonic() + DEADLINE
    while True:
        found = await read(engine, clock)
        if condition(found):  # type: ignore[operator]
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.1)
