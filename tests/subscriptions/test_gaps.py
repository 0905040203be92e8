"""The gap test (design §4): writers that hold their transaction open while
others commit. A subscriber gets every committed event exactly once, in the
order of the stream, which is the order of the events query; nothing of a
transaction that rolled back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from tests.subscriptions.support import (
    SELL,
    Server,
    ServerFactory,
    Subscription,
    connect,
    cursors,
    go_live,
    ids,
    sql_arrive,
    sql_change_price,
)


@asynccontextmanager
async def subscribers(server: Server, conn: asyncpg.Connection) -> AsyncIterator[Subscribers]:
    """Two subscribers on one connection, both there before the writes: one
    from the very beginning, one from "now" (after its sentinels)."""
    sentinels: set[str] = set()

    async def sentinel() -> None:
        sentinels.add(await sql_arrive(conn, "Sentinel"))

    async with connect(server) as ws:
        from_start = await ws.events(after="0")
        from_now = await ws.events()
        await go_live([from_now], sentinel)
        yield Subscribers(server, from_start, from_now)


class Subscribers:
    def __init__(self, server: Server, from_start: Subscription, from_now: Subscription) -> None:
        self.server = server
        self.from_start = from_start
        self.from_now = from_now

    async def check(self, committed: Sequence[str]) -> list[dict[str, Any]]:
        """Both subscribers hold exactly the stream as the events query pages
        it (first: 2 from "0"): each event once, in order, none missing.

        The page is read once it holds every event in `committed`: the
        stream's horizon is the whole PostgreSQL server's, so a transaction
        open in another database (another test run on a shared server) may
        hold committed events back for a while — from the query and the
        subscribers alike, but not at the same instant."""
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            paged = await self.server.events_page_by_page(first=2)
            if set(committed) <= set(ids(paged)):
                break
            assert asyncio.get_running_loop().time() < deadline, "committed events never paged"
            await asyncio.sleep(0.1)
        await self.from_start.take(len(paged) - len(self.from_start.received), within=15)
        await self.from_start.expect_nothing(1.0)
        received = self.from_start.received
        assert cursors(received) == cursors(paged)
        assert received == paged

        first_live = ids(paged).index(self.from_now.received[0]["id"])
        expected_live = paged[first_live:]
        await self.from_now.take(len(expected_live) - len(self.from_now.received), within=15)
        await self.from_now.expect_nothing(0.5)
        live = self.from_now.received
        assert cursors(live) == cursors(expected_live)
        return paged


async def test_a_transaction_that_commits_last_is_delivered_once_and_in_stream_order(
    server: Server, conn: asyncpg.Connection, database_url: str
) -> None:
    slow_pet = await sql_arrive(conn, "Slow")
    fast_pet = await sql_arrive(conn, "Fast")
    slow = await asyncpg.connect(database_url)
    try:
        async with subscribers(server, conn) as subs:
            transaction = slow.transaction()
            await transaction.start()
            slow_event = await sql_change_price(slow, slow_pet, "1.00")
            # Meanwhile faster writers commit, by hand and through the API.
            fast_event = await sql_change_price(conn, fast_pet, "2.00")
            api_event = await server.change_price(fast_pet, "3.00")
            await asyncio.sleep(1.0)  # two poll intervals: time to deliver what may be
            await transaction.commit()
            stream = await subs.check([slow_event, fast_event, api_event])
    finally:
        await slow.close()

    for event in (slow_event, fast_event, api_event):
        assert ids(stream).count(event) == 1
    # Where the slow one stands is the stream's business (by transaction id it
    # comes first, the gap that a reader resuming "after the last id seen"
    # would skip for ever); the two fast ones committed one after the other.
    assert ids(stream).index(fast_event) < ids(stream).index(api_event)


async def test_several_slow_transactions_interleaved_with_fast_ones(
    server: Server, conn: asyncpg.Connection, database_url: str
) -> None:
    pets = [await sql_arrive(conn, f"Pet {n}") for n in range(25)]
    slow_pets, fast_pets = pets[:5], iter(pets[5:])
    slow_connections = [await asyncpg.connect(database_url) for _ in slow_pets]
    written: list[str] = []

    async def fast_pair(price: str) -> None:
        # Two at once: one through the API, one by hand.
        written.extend(
            await asyncio.gather(
                server.change_price(next(fast_pets), price),
                sql_change_price(conn, next(fast_pets), price),
            )
        )

    try:
        async with subscribers(server, conn) as subs:
            transactions = []
            for slow, pet in zip(slow_connections, slow_pets, strict=True):
                transaction = slow.transaction()
                await transaction.start()
                transactions.append(transaction)
                written.append(await sql_change_price(slow, pet, "1.00"))
                await fast_pair("2.00")
            for index in (3, 0, 4, 1, 2):
                await transactions[index].commit()
                await fast_pair("3.00")
            stream = await subs.check(written)
    finally:
        for slow in slow_connections:
            await slow.close()

    assert len(written) == 25
    assert sorted(i for i in ids(stream) if i in written) == sorted(written)
    assert len(stream) == len(set(ids(stream)))


async def test_a_rolled_back_write_between_committed_ones_is_never_delivered(
    server: Server, conn: asyncpg.Connection, database_url: str
) -> None:
    first, second, third = [await sql_arrive(conn, name) for name in ("A", "B", "C")]
    slow = await asyncpg.connect(database_url)
    try:
        async with subscribers(server, conn) as subs:
            committed = [await server.change_price(first, "1.00")]
            transaction = slow.transaction()
            await transaction.start()
            rolled_back = [
                await sql_change_price(slow, second, "66.00"),
                await sql_change_price(slow, third, "67.00"),
            ]
            committed.append(await sql_change_price(conn, first, "2.00"))
            # A write refused by the rules stores nothing either.
            refused = await server.graphql(
                SELL,
                {
                    "input": {
                        "petId": "00000000-0000-7000-8000-000000000000",
                        "customerId": "00000000-0000-4000-8000-000000000000",
                        "salePrice": "1.00",
                    }
                },
                write=True,
            )
            assert [e["code"] for e in refused["sellPet"]["userErrors"]] == ["PET_NOT_FOUND"]
            committed.append(await server.change_price(first, "3.00"))
            await asyncio.sleep(1.0)  # their notifications are handled by now
            # No write after the rollback: the events committed meanwhile
            # become readable without a notification of their own.
            await transaction.rollback()
            stream = await subs.check(committed)
            # And the stream goes on; a savepoint rolled back inside a
            # committed transaction takes its event with it.
            committed.append(await server.change_price(second, "4.00"))
            async with slow.transaction():
                committed.append(await sql_change_price(slow, third, "5.00"))
                savepoint = slow.transaction()
                await savepoint.start()
                rolled_back.append(await sql_change_price(slow, third, "68.00"))
                await savepoint.rollback()
                committed.append(await sql_change_price(slow, first, "6.00"))
            stream = await subs.check(committed)
    finally:
        await slow.close()

    assert not set(rolled_back) & set(ids(stream))
    assert not set(rolled_back) & set(ids(subs.from_now.received))
    assert [i for i in ids(stream) if i in committed] == committed
    prices = await conn.fetch("select current_price from pets order by name")
    assert [str(row["current_price"]) for row in prices][:3] == ["6.00", "4.00", "5.00"]


async def test_a_transaction_open_in_another_database_holds_the_stream_back_and_is_named(
    serve: ServerFactory, conn: asyncpg.Connection, postgres_server_url: str
) -> None:
    """The stream's horizon is the whole PostgreSQL server's (database/
    horizon.py): a write transaction left open in another database delays
    this database's stream. Nothing is lost; after
    PETSTORE_HORIZON_WARNING_AFTER the log names the transaction's backend
    and database, and its end lets the event through."""
    server = await serve(PETSTORE_HORIZON_WARNING_AFTER="1")
    pet = await sql_arrive(conn, "Rex")
    elsewhere = await asyncpg.connect(postgres_server_url)  # the server's `postgres` database
    try:
        async with connect(server) as ws:
            stream = await ws.events(after="0")
            await stream.take(1)
            transaction = elsewhere.transaction()
            await transaction.start()
            # Takes a transaction id, as the first write of a transaction does.
            await elsewhere.fetchval("select pg_current_xact_id()")
            pid = await elsewhere.fetchval("select pg_backend_pid()")
            await sql_change_price(conn, pet, "2.00")
            named = f"of backend {pid} in database 'postgres'"
            deadline = time.monotonic() + 20
            while named not in server.log(tail=None):
                assert time.monotonic() < deadline, f"no warning {named!r}:\n{server.log()}"
                await asyncio.sleep(0.1)
            # Held back, not lost: nothing yet, the event once it ends.
            await stream.expect_nothing(0.5)
            await transaction.rollback()
            (event,) = await stream.take(1, within=10)
            assert event["newPrice"] == "2.00"
    finally:
        await elsewhere.close()
