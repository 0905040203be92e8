"""The doorbell's LISTEN connection dies in the middle of a stream: the server
listens again, and subscribers lose nothing."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.subscriptions.support import (
    Server,
    ServerFactory,
    connect,
    listener_pids,
    sql_arrive,
    sql_change_price,
    wait_for_listeners,
)

# Long enough that only a notification delivers an event within the test's
# time limits: the poll fallback would come too late.
SLOW_POLL = {"PETSTORE_POLL_INTERVAL": "60"}


async def test_the_doorbell_listens_again_after_its_connection_is_terminated(
    serve: ServerFactory, conn: asyncpg.Connection
) -> None:
    server = await serve(**SLOW_POLL)
    (listener,) = await wait_for_listeners(conn, 1)
    pet = await sql_arrive(conn, "Rex")

    async with connect(server) as ws:
        stream = await ws.events(after="0")
        assert len(await stream.take(1, within=15)) == 1
        for price in ("1.00", "2.00", "3.00"):
            await sql_change_price(conn, pet, price)
            await stream.take(1, within=15)

        assert await conn.fetchval("select pg_terminate_backend($1)", listener)
        # Written while nobody listens, or while the doorbell reconnects.
        for price in ("4.00", "5.00", "6.00"):
            await sql_change_price(conn, pet, price)
            await asyncio.sleep(0.1)
        after_drop = await stream.take(3, within=15)
        (new_listener,) = await wait_for_listeners(conn, 1, other_than=[listener])

        # And the new LISTEN works: each event arrives at once.
        for price in ("7.00", "8.00"):
            await server.change_price(pet, price)
            await stream.take(1, within=15)
        await stream.expect_nothing(0.5)

    assert new_listener != listener
    assert [e["newPrice"] for e in after_drop] == ["4.00", "5.00", "6.00"]
    assert stream.received == await server.events_page_by_page(first=500)


TERMINATE_THE_SERVERS_CONNECTIONS = """
select pg_terminate_backend(pid) from pg_stat_activity
where datname = current_database() and pid <> pg_backend_pid()
  and backend_type = 'client backend'
"""


async def test_subscribers_survive_the_termination_of_every_server_connection(
    server: Server, conn: asyncpg.Connection
) -> None:
    """As after a database restart or failover: the pool's connections and
    the listener all die at once; a subscription that follows the stream's
    tail carries on, and the API answers again."""
    pet = await sql_arrive(conn, "Rex")
    async with connect(server) as ws:
        stream = await ws.events(after="0")
        await sql_change_price(conn, pet, "1.00")
        await stream.take(2)

        terminated = await conn.fetch(TERMINATE_THE_SERVERS_CONNECTIONS)
        assert len(terminated) >= 2  # the listener and the pool's connections
        for price in ("2.00", "3.00", "4.00"):
            await sql_change_price(conn, pet, price)
            await asyncio.sleep(0.2)
        after_drop = await stream.take(3, within=15)
        await wait_for_listeners(conn, 1)
        await server.change_price(pet, "5.00")
        await stream.take(1)
        await stream.expect_nothing(0.5)

    assert [e["newPrice"] for e in after_drop] == ["2.00", "3.00", "4.00"]
    assert stream.received == await server.events_page_by_page(first=500)
    assert await listener_pids(conn)


@pytest.mark.parametrize("subscription", ["events", "petChanged"])
async def test_a_subscription_right_after_the_database_dropped_the_connections_is_served(
    serve: ServerFactory, conn: asyncpg.Connection, subscription: str
) -> None:
    # Written before the server starts: the catch-up reads the database.
    pets = [await sql_arrive(conn, name) for name in ("A", "B", "C")]
    # Poll mode with a long interval: nothing but the subscription touches
    # the pool between the termination and the subscribe.
    server = await serve(PETSTORE_SUBSCRIPTIONS="poll", PETSTORE_POLL_INTERVAL="60")
    await server.graphql("{ pets { edges { cursor } } }")
    assert len(await conn.fetch(TERMINATE_THE_SERVERS_CONNECTIONS)) >= 1

    async with connect(server) as ws:
        if subscription == "events":
            stream = await ws.events(after="0")
            assert [e["petId"] for e in await stream.take(3)] == pets
        else:
            changes = await ws.pet_changed()
            await changes.expect_nothing(2.0)
