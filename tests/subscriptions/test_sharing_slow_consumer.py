"""One subscriber that stops reading, among 200 that read: the others get
every event, the server's memory stays bounded (the stuck one's queue is
bounded and it falls back to its own cursor), and once it has been behind
longer than PETSTORE_SUBSCRIPTION_SLOW_LIMIT its connection is closed with
4499, after every frame it was sent, in order and without a gap, so that it
can resume with `after:` its last cursor."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time

import asyncpg
import pytest

from graphql_petstore.sharing.registry import SLOW_CLOSE_CODE, SLOW_CLOSE_REASON
from tests.subscriptions.support import (
    API_TOKEN,
    GraphQLWebSocket,
    ServerFactory,
    Subscription,
    connect,
    go_live,
    ids,
    sql_arrive,
)

READERS = 200
PETS = 600
BATCH = 200
PADDING = 4_000
COPIES = 10
LIGHT = "subscription { events { id type petId } }"
# Each frame holds COPIES copies of the event's metadata: the frames a stuck
# subscriber would keep are large, the rows the stream keeps are not.
HEAVY = (
    "subscription { events { id cursor type petId "
    + " ".join(f"m{n}: metadata" for n in range(COPIES))
    + " } }"
)


# metadata is an audit field: without a token the heavy frames would be
# small. Every client presents the same token, so that the stuck one's light
# subscription is in the readers' group (groups key on the caller).
TOKEN = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.mark.once
async def test_a_stuck_subscriber_holds_nobody_up_and_is_closed_with_4499(
    serve: ServerFactory, conn: asyncpg.Connection
) -> None:
    server = await serve(
        PETSTORE_SUBSCRIPTION_QUEUE="64",
        PETSTORE_SUBSCRIPTION_SLOW_LIMIT="10",
        PETSTORE_SUBSCRIPTION_LOG_INTERVAL="1",
        PETSTORE_LOG_FORMAT="text",
    )
    await conn.execute(
        "insert into pet_arrived_events (pet_id, name, species, price)"
        " select uuid_generate_v7(), 'Pet ' || n, 'Cat', 10 from generate_series(1, $1) n",
        PETS,
    )
    sentinels: set[str] = set()

    async def sentinel() -> None:
        sentinels.add(await sql_arrive(conn, "Sentinel"))

    async with contextlib.AsyncExitStack() as stack:
        readers: list[Subscription] = []
        for _ in range(READERS):
            ws: GraphQLWebSocket = await stack.enter_async_context(
                connect(server, keepalive=False, headers=TOKEN)
            )
            readers.append(await ws.subscribe("events", LIGHT))
        stuck_ws = await stack.enter_async_context(
            connect(server, receive_buffer=16_384, keepalive=False, headers=TOKEN)
        )
        # In the readers' group, and in one of its own whose large frames
        # soon fill its socket.
        stuck_light = await stuck_ws.subscribe("events", LIGHT)
        stuck = await stuck_ws.subscribe("events", HEAVY)
        await go_live([*readers, stuck_light, stuck], sentinel)
        [worker] = server.workers()
        idle_rss = worker.memory_info().rss

        stuck_ws.pause()
        for offset in range(0, PETS, BATCH):
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
        for reader in readers:
            changes = await reader.take(
                PETS, within=120, skip=lambda e: e["type"] != "PET_PRICE_CHANGE"
            )
            assert len(set(ids(changes))) == PETS
        # The stuck one's frames, had they been kept, would be 24 MB.
        grown = worker.memory_info().rss - idle_rss
        assert grown < PETS * PADDING * COPIES / 2, f"the server grew by {grown / 2**20:.1f} MiB"

        deadline = time.monotonic() + 30
        while f"closing its connection ({SLOW_CLOSE_CODE})" not in server.log(tail=None):
            assert time.monotonic() < deadline, server.log()
            await asyncio.sleep(0.2)
        fell_behind = [int(n) for n in re.findall(r"(\d+) fell behind", server.log())]
        assert max(fell_behind, default=0) >= 1

        stuck_ws.resume()
        code, reason = await stuck_ws.wait_closed(within=30)
        assert (code, reason) == (SLOW_CLOSE_CODE, SLOW_CLOSE_REASON)

    expected = await server.events_page_by_page(
        after=stuck.received[-1]["cursor"], first=500, max_pages=100
    )
    got: list[dict[str, object]] = []
    while True:
        try:
            got.append(await stuck.next(within=0.5))
        except (AssertionError, TimeoutError):
            break
    assert got, "the stuck subscriber got nothing after it stopped reading"
    # In order, without a gap or a duplicate: a prefix of the stream.
    assert ids(got) == ids(expected[: len(got)])
