"""An append whose connection breaks is answered with what is true
(graphql_petstore.database.appends.run_append), on a real PostgreSQL: each
break is made happen at a known point of the statement rather than hoped
for, as tests/faults does under load."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from graphql_petstore.database.appends import (
    APPEND_FUNCTIONS,
    AppendNotStored,
    Command,
    append,
    run_append,
)
from graphql_petstore.database.engine import create_pool
from graphql_petstore.database.ids import new_id
from graphql_petstore.database.pool import ConnectionPool, PetstoreConnection
from tests.database.test_concurrency import wait_until_blocked
from tests.faults.serve import free_port

APPENDED = "select r.event, r.pet from petstore_appended($1::uuid) r"


@pytest_asyncio.fixture(loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[ConnectionPool]:
    connections = create_pool(database_url, 4)
    try:
        yield connections
    finally:
        await connections.close()


def arrival() -> Command:
    columns = {"pet_id": uuid.uuid4(), "name": "Rex", "species": "Dog", "price": Decimal("10")}
    return Command("PET_ARRIVED", new_id(), columns, {}, None, None)


def price_change(pet_id: uuid.UUID) -> Command:
    columns = {"pet_id": pet_id, "new_price": Decimal("12"), "old_price": None}
    return Command("PET_PRICE_CHANGE", new_id(), columns, {}, None, None)


def statement(command: Command) -> tuple[str, list[Any]]:
    function = APPEND_FUNCTIONS[command.event_type]
    call = function.call(lambda index, sql_type: f"${index + 1}::{sql_type}")
    return f"select r.event, r.pet from {call} r", function.arguments(command)


async def settle_by_id(conn: PetstoreConnection, command: Command) -> asyncpg.Record | None:
    return await conn.fetchrow(APPENDED, command.event_id)


async def test_an_append_that_committed_before_its_connection_broke_is_answered_with_the_event(
    pool: ConnectionPool,
) -> None:
    command = arrival()
    sql, arguments = statement(command)

    async def attempt(conn: PetstoreConnection) -> asyncpg.Record | None:
        await conn.fetchrow(sql, *arguments)  # committed (autocommit)
        # The backend goes before the next statement's answer arrives.
        await conn.execute("select pg_terminate_backend(pg_backend_pid())")
        raise AssertionError("the backend answered after terminating itself")

    row = await run_append(pool, command.event_id, attempt, lambda c: settle_by_id(c, command))
    assert row is not None
    assert row["event"]["id"] == command.event_id
    assert row["pet"]["id"] == command.columns["pet_id"]


async def test_an_append_whose_connection_broke_before_it_ran_is_reported_not_stored(
    pool: ConnectionPool, conn: asyncpg.Connection
) -> None:
    command = arrival()
    sql, arguments = statement(command)

    async def attempt(connection: PetstoreConnection) -> asyncpg.Record | None:
        await connection.execute("select pg_terminate_backend(pg_backend_pid())")
        return await connection.fetchrow(sql, *arguments)

    with pytest.raises(AppendNotStored):
        await run_append(pool, command.event_id, attempt, lambda c: settle_by_id(c, command))
    assert await conn.fetchval("select count(*) from events where id = $1", command.event_id) == 0


async def test_an_append_still_running_when_its_connection_broke_is_ended_before_it_is_reported(
    pool: ConnectionPool, conn: asyncpg.Connection, database_url: str
) -> None:
    """The backend of a broken connection may still run the statement (here:
    waiting for a row lock) and commit it later. Settling must end it first;
    had it only looked, the event would be reported not stored and then
    commit once the lock is released."""
    arrived, _ = await append(pool, arrival())
    pet_id = arrived["pet_id"]
    command = price_change(pet_id)
    sql, arguments = statement(command)
    holder = await asyncpg.connect(database_url)
    try:
        locked = holder.transaction()
        await locked.start()
        await holder.execute("select from pets where id = $1 for update", pet_id)

        async def attempt(connection: PetstoreConnection) -> asyncpg.Record | None:
            running = asyncio.create_task(connection.fetchrow(sql, *arguments))
            await wait_until_blocked(conn, connection)
            connection.terminate()  # the socket closes; the backend waits on
            return await running

        with pytest.raises(AppendNotStored):
            await run_append(pool, command.event_id, attempt, lambda c: settle_by_id(c, command))
        await locked.rollback()
    finally:
        await holder.close()
    # Had the old backend survived, it would have committed by now: it only
    # waited for the lock just released. Ask after it is surely gone.
    await conn.execute("select pg_sleep(0.5)")
    assert await conn.fetchval("select count(*) from events where id = $1", command.event_id) == 0
    assert await conn.fetchval("select version from pets where id = $1", pet_id) == 1


async def test_an_append_that_cannot_connect_is_reported_not_stored() -> None:
    # Nothing listens on a port just freed.
    unreachable = create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/petstore", 1)
    try:
        with pytest.raises(AppendNotStored):
            await append(unreachable, arrival())
    finally:
        await unreachable.close()
