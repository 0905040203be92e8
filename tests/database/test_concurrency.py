"""Events on one pet serialise on its row (design §3), on real concurrent
connections. Where the order matters, one connection holds a transaction open
and the test waits until the others are seen blocked on its locks, so the
overlap is certain rather than hoped for."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from typing import Any

import asyncpg

from tests.database.rules import (
    RULE_SQLSTATES,
    arrive,
    assert_error,
    insert_statement,
    pet,
    store_contents,
)

CONCURRENT_SALES = 20
BLOCKED_TIMEOUT_SECONDS = 30.0


@contextlib.asynccontextmanager
async def connections(url: str, count: int) -> AsyncIterator[list[asyncpg.Connection]]:
    opened = await asyncio.gather(*(asyncpg.connect(url) for _ in range(count)))
    try:
        yield list(opened)
    finally:
        await asyncio.gather(*(c.close() for c in opened))


async def wait_until_blocked(observer: asyncpg.Connection, *blocked: asyncpg.Connection) -> None:
    """Waits until every connection of `blocked` waits for a lock."""
    pids = [c.get_server_pid() for c in blocked]
    deadline = time.monotonic() + BLOCKED_TIMEOUT_SECONDS
    while True:
        waiting = await observer.fetchval(
            "select count(*) from pg_stat_activity"
            " where pid = any($1::int[]) and wait_event_type = 'Lock'",
            pids,
        )
        if waiting == len(pids):
            return
        assert time.monotonic() < deadline, f"only {waiting} of {len(pids)} are blocked"
        await asyncio.sleep(0.02)


async def outcome(statement: Awaitable[Any]) -> asyncpg.PostgresError | None:
    """None when the statement succeeded, else its database error."""
    try:
        await statement
    except asyncpg.PostgresError as error:
        return error
    return None


def sale(conn: asyncpg.Connection, pet_id: uuid.UUID, customer_id: uuid.UUID) -> Awaitable[Any]:
    values = {"pet_id": pet_id, "customer_id": customer_id, "sale_price": Decimal("10.00")}
    return conn.execute(insert_statement("pet_sold_events", values), *values.values())


def birth(conn: asyncpg.Connection, pet_id: uuid.UUID, mother_id: uuid.UUID) -> Awaitable[Any]:
    values = {"pet_id": pet_id, "mother_id": mother_id, "name": "Kit", "price": Decimal("1.00")}
    return conn.execute(insert_statement("pet_born_events", values), *values.values())


def arrival(conn: asyncpg.Connection, pet_id: uuid.UUID, name: str) -> Awaitable[Any]:
    values = {"pet_id": pet_id, "name": name, "species": "Cat", "price": Decimal("1.00")}
    return conn.execute(insert_statement("pet_arrived_events", values), *values.values())


async def test_second_concurrent_sale_is_rejected(
    conn: asyncpg.Connection, database_url: str
) -> None:
    pet_id = await arrive(conn)
    customers = [uuid.uuid4() for _ in range(CONCURRENT_SALES)]
    async with connections(database_url, CONCURRENT_SALES + 1) as (locker, *sellers):
        # The locker holds the pet's row, so that all twenty sales are in
        # flight, each waiting for the row, before any of them can proceed.
        async with locker.transaction():
            await locker.execute("select id from pets where id = $1 for update", pet_id)
            attempts = [
                asyncio.ensure_future(outcome(sale(seller, pet_id, customer)))
                for seller, customer in zip(sellers, customers, strict=True)
            ]
            await wait_until_blocked(conn, *sellers)
        results = await asyncio.gather(*attempts)

    winners = [customer for customer, error in zip(customers, results, strict=True) if not error]
    errors = [error for error in results if error is not None]
    assert len(winners) == 1
    assert len(errors) == CONCURRENT_SALES - 1
    for error in errors:
        assert_error(error, "PET_ALREADY_SOLD", None)
    sales = await conn.fetch("select customer_id from pet_sold_events where pet_id = $1", pet_id)
    assert [row["customer_id"] for row in sales] == winners
    sold = await pet(conn, pet_id)
    assert sold is not None
    assert (sold["status"], sold["customer_id"], sold["version"]) == ("SOLD", winners[0], 2)


async def test_concurrent_sales_without_a_held_lock_store_exactly_one(
    conn: asyncpg.Connection, database_url: str
) -> None:
    pet_id = await arrive(conn)
    async with connections(database_url, CONCURRENT_SALES) as sellers:
        results = await asyncio.gather(
            *(outcome(sale(seller, pet_id, uuid.uuid4())) for seller in sellers)
        )
    errors = [error for error in results if error is not None]
    assert len(errors) == CONCURRENT_SALES - 1
    assert {error.sqlstate for error in errors} == {RULE_SQLSTATES["PET_ALREADY_SOLD"]}
    assert await conn.fetchval("select count(*) from pet_sold_events") == 1
    sold = await pet(conn, pet_id)
    assert sold is not None
    assert (sold["status"], sold["version"]) == ("SOLD", 2)


async def test_second_concurrent_arrival_of_one_id_is_rejected(
    conn: asyncpg.Connection, database_url: str
) -> None:
    pet_id = uuid.uuid4()
    async with connections(database_url, 2) as (first, second):
        async with first.transaction():
            await arrival(first, pet_id, "First")
            late = asyncio.ensure_future(outcome(arrival(second, pet_id, "Second")))
            await wait_until_blocked(conn, second)
        error = await late
    assert error is not None
    assert_error(error, "PET_ALREADY_EXISTS", None)
    assert await conn.fetchval("select count(*) from events") == 1
    arrived = await pet(conn, pet_id)
    assert arrived is not None
    assert (arrived["name"], arrived["version"]) == ("First", 1)


async def test_birth_concurrent_with_an_arrival_of_the_same_id_is_rejected(
    conn: asyncpg.Connection, database_url: str
) -> None:
    mother_id = await arrive(conn, species="Cat")
    pet_id = uuid.uuid4()
    async with connections(database_url, 2) as (first, second):
        async with first.transaction():
            await arrival(first, pet_id, "First")
            late = asyncio.ensure_future(outcome(birth(second, pet_id, mother_id)))
            await wait_until_blocked(conn, second)
        error = await late
    assert error is not None
    assert_error(error, "PET_ALREADY_EXISTS", None)
    assert await conn.fetchval("select count(*) from pet_born_events") == 0
    arrived = await pet(conn, pet_id)
    assert arrived is not None
    assert (arrived["name"], arrived["mother_id"], arrived["version"]) == ("First", None, 1)


async def test_arrival_waiting_on_a_rolled_back_arrival_of_the_same_id_succeeds(
    conn: asyncpg.Connection, database_url: str
) -> None:
    pet_id = uuid.uuid4()
    async with connections(database_url, 2) as (first, second):
        transaction = first.transaction()
        await transaction.start()
        await arrival(first, pet_id, "First")
        late = asyncio.ensure_future(outcome(arrival(second, pet_id, "Second")))
        await wait_until_blocked(conn, second)
        await transaction.rollback()
        assert await late is None
    arrived = await pet(conn, pet_id)
    assert arrived is not None
    assert (arrived["name"], arrived["version"]) == ("Second", 1)


async def test_sale_of_the_mother_waits_for_a_birth_in_progress(
    conn: asyncpg.Connection, database_url: str
) -> None:
    mother_id = await arrive(conn, species="Cat")
    kit_id = uuid.uuid4()
    async with connections(database_url, 2) as (midwife, seller):
        async with midwife.transaction():
            await birth(midwife, kit_id, mother_id)
            sold = asyncio.ensure_future(outcome(sale(seller, mother_id, uuid.uuid4())))
            await wait_until_blocked(conn, seller)
        assert await sold is None
    kit = await pet(conn, kit_id)
    mother = await pet(conn, mother_id)
    assert kit is not None
    assert mother is not None
    assert (kit["status"], kit["mother_id"]) == ("AVAILABLE", mother_id)
    assert (mother["status"], mother["version"]) == ("SOLD", 2)
    assert await mother_status_at_birth(conn, kit_id) == "AVAILABLE"


async def test_birth_waiting_on_the_sale_of_its_mother_is_rejected(
    conn: asyncpg.Connection, database_url: str
) -> None:
    mother_id = await arrive(conn, species="Cat")
    kit_id = uuid.uuid4()
    async with connections(database_url, 2) as (seller, midwife):
        async with seller.transaction():
            await sale(seller, mother_id, uuid.uuid4())
            born = asyncio.ensure_future(outcome(birth(midwife, kit_id, mother_id)))
            await wait_until_blocked(conn, midwife)
        error = await born
    assert error is not None
    assert_error(error, "MOTHER_NOT_IN_STORE", None)
    assert await pet(conn, kit_id) is None
    assert await conn.fetchval("select count(*) from pet_born_events") == 0


async def test_racing_births_and_sales_of_mothers_stay_consistent(
    conn: asyncpg.Connection, database_url: str
) -> None:
    mothers = [await arrive(conn, species="Cat") for _ in range(8)]
    kits = [uuid.uuid4() for _ in mothers]
    async with connections(database_url, 2) as (midwife, seller):
        for mother_id, kit_id in zip(mothers, kits, strict=True):
            born, sold = await asyncio.gather(
                outcome(birth(midwife, kit_id, mother_id)),
                outcome(sale(seller, mother_id, uuid.uuid4())),
            )
            assert sold is None
            mother = await pet(conn, mother_id)
            assert mother is not None
            assert (mother["status"], mother["version"]) == ("SOLD", 2)
            if born is None:
                assert await mother_status_at_birth(conn, kit_id) == "AVAILABLE"
            else:
                assert_error(born, "MOTHER_NOT_IN_STORE", None)
                assert await pet(conn, kit_id) is None
    contents = await store_contents(conn)
    assert len(contents["pet_born_events"]) == len(contents["pets"]) - len(mothers)


async def mother_status_at_birth(conn: asyncpg.Connection, kit_id: uuid.UUID) -> str:
    """The mother's status folded from her events recorded before the birth."""
    born = await conn.fetchrow("select * from pet_born_events where pet_id = $1", kit_id)
    assert born is not None
    status: str = await conn.fetchval(
        "select (pet_fold_all(e order by e.pet_version)).status from pet_event_log e"
        " where e.pet_id = $1 and e.created_at <= $2",
        born["mother_id"],
        born["created_at"],
    )
    return status


async def test_events_on_different_pets_do_not_wait_for_each_other(
    conn: asyncpg.Connection, database_url: str
) -> None:
    first_pet = await arrive(conn)
    second_pet = await arrive(conn)
    async with connections(database_url, 2) as (first, second), first.transaction():
        await sale(first, first_pet, uuid.uuid4())
        await asyncio.wait_for(sale(second, second_pet, uuid.uuid4()), timeout=10)
        assert await second.fetchval("select status from pets where id = $1", second_pet) == (
            "SOLD"
        )
    assert await conn.fetchval("select count(*) from pet_sold_events") == 2
