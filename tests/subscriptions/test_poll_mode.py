"""PETSTORE_SUBSCRIPTIONS=poll: no LISTEN connection at all (as behind a
transaction-pooling proxy); subscribers re-read every poll interval, with the
same catch-up-then-live guarantee."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from tests.subscriptions.support import (
    ServerFactory,
    connect,
    listener_pids,
    sql_arrive,
    sql_change_price,
)

POLL_INTERVAL = 0.5


async def test_poll_mode_catches_up_then_delivers_within_the_poll_interval_without_listen(
    serve: ServerFactory, conn: asyncpg.Connection
) -> None:
    server = await serve(PETSTORE_SUBSCRIPTIONS="poll", PETSTORE_POLL_INTERVAL=str(POLL_INTERVAL))
    pets = [await sql_arrive(conn, f"Pet {n}") for n in range(3)]
    await server.change_price(pets[0], "11.00")

    async with connect(server) as ws:
        stream = await ws.events(after="0")
        caught_up = await stream.take(4, within=10)
        assert caught_up == await server.events_page_by_page()

        latencies = []
        for n, price in enumerate(("1.00", "2.00", "3.00", "4.00", "5.00", "6.00")):
            started = time.monotonic()
            if n % 2:
                await server.change_price(pets[n % 3], price)
            else:
                await sql_change_price(conn, pets[n % 3], price)
            (event,) = await stream.take(1, within=10)
            latencies.append(time.monotonic() - started)
            assert event["newPrice"] == price
            await asyncio.sleep(0.1)
        await stream.expect_nothing(1.0)
        # Nobody listens: no connection of the server is (or was, showing its
        # health check) the doorbell's.
        assert await listener_pids(conn) == []

    assert stream.received == await server.events_page_by_page(first=2)
    # Two intervals: one for the stream to see it, one for the subscriber's
    # wait; plus the time of the write itself.
    assert max(latencies) < 2 * POLL_INTERVAL + 1.5, latencies
