"""A subscriber that stops reading while thousands of events are written
falls behind the stream's in-memory buffer (2,000 events) and catches up
from the database: it gets every event, in order, exactly once."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.subscriptions.support import API_TOKEN, Server, connect, go_live, ids, sql_arrive

PETS = 4_000
BATCH = 1_000
# Each event carries this much metadata and the subscriber selects it, so
# that the socket buffers fill after a few hundred events and the server's
# sends wait for the paused client, while the stream reads on.
PADDING = 8_000

SLOW_EVENTS = """
subscription($after: String) {
  events(after: $after) { id cursor petId type metadata }
}
"""


async def test_a_subscriber_that_pauses_gets_every_event_in_order_exactly_once(
    server: Server, conn: asyncpg.Connection
) -> None:
    await conn.execute(
        "insert into pet_arrived_events (pet_id, name, species, price)"
        " select uuid_generate_v7(), 'Pet ' || n, 'Cat', 10 from generate_series(1, $1) n",
        PETS,
    )
    sentinels: set[str] = set()

    async def sentinel() -> None:
        sentinels.add(await sql_arrive(conn, "Sentinel"))

    # metadata is an audit field: the subscriber presents a token.
    async with connect(
        server,
        receive_buffer=262_144,
        keepalive=False,
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ) as ws:
        stream = await ws.subscribe("events", SLOW_EVENTS)
        await go_live([stream], sentinel)
        before = len(stream.received)

        ws.pause()
        for offset in range(0, PETS, BATCH):
            # One statement: BATCH price changes on BATCH pets.
            await conn.execute(
                """
                insert into pet_price_change_events (pet_id, new_price, metadata)
                select id, 20, jsonb_build_object('pad', repeat('x', $3))
                from pets where name like 'Pet %'
                order by id offset $1 limit $2
                """,
                offset,
                BATCH,
                PADDING,
            )
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # the stream reads on, beyond its buffer
        ws.resume()

        changes = await stream.take(
            PETS, within=60, skip=lambda e: e["type"] == "PET_ARRIVED" and e["petId"] in sentinels
        )
        await stream.expect_nothing(1.0)

    expected = await server.events_page_by_page(
        after=stream.received[before - 1]["cursor"], first=500
    )
    expected_changes = [e for e in expected if e["type"] == "PET_PRICE_CHANGE"]
    assert ids(changes) == ids(expected_changes)
    assert len(set(ids(changes))) == PETS
    assert all(len(e["metadata"]["pad"]) == PADDING for e in changes)
    assert ids(stream.received[before:]) == ids(expected)
