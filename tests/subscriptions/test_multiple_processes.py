"""Several server processes on one database: a write through any of them
reaches the subscribers of all of them (NOTIFY reaches every listener)."""

from __future__ import annotations

import contextlib
import time
from collections import Counter

import asyncpg
import httpx
import psutil

from tests.subscriptions.support import (
    API_TOKEN,
    CHANGE_PRICE,
    GraphQLWebSocket,
    Server,
    ServerFactory,
    Subscription,
    connect,
    wait_for_listeners,
)

# Long enough that only a notification delivers an event within the test's
# time limits: the poll fallback would come too late.
SLOW_POLL = {"PETSTORE_POLL_INTERVAL": "60"}


async def test_a_write_through_either_of_two_servers_reaches_the_subscribers_of_both(
    serve: ServerFactory, conn: asyncpg.Connection
) -> None:
    one = await serve(**SLOW_POLL)
    two = await serve(**SLOW_POLL)
    await wait_for_listeners(conn, 2)
    pet = await one.arrive("Shared", "1.00")
    start = (await one.events_page_by_page())[-1]["cursor"]

    async with connect(one) as ws_one, connect(two) as ws_two:
        subscriptions = [
            await ws_one.events(after=start),
            await ws_two.events(after=start),
            await ws_two.events(after=start),
        ]
        written = []
        for writer, price in ((one, "2.00"), (two, "3.00"), (two, "4.00"), (one, "5.00")):
            written.append(await writer.change_price(pet, price))
            for subscription in subscriptions:
                (event,) = await subscription.take(1, within=15)
                assert event["id"] == written[-1]
        for subscription in subscriptions:
            await subscription.expect_nothing(0.5)

    stream = await two.events_page_by_page(after=start)
    for subscription in subscriptions:
        assert subscription.received == stream


async def worker_of_each_connection(server: Server) -> Counter[int]:
    """How many established connections to the server's port each worker holds."""
    counts: Counter[int] = Counter()
    for worker in server.workers():
        with contextlib.suppress(psutil.NoSuchProcess):
            for connection in worker.net_connections(kind="tcp"):
                if (
                    connection.laddr
                    and connection.laddr.port == server.port
                    and (connection.status == psutil.CONN_ESTABLISHED)
                ):
                    counts[worker.pid] += 1
    return counts


async def test_with_two_workers_a_write_reaches_the_subscribers_of_both_workers(
    serve: ServerFactory, conn: asyncpg.Connection
) -> None:
    server = await serve(workers=2, **SLOW_POLL)
    workers = server.workers()
    assert len(workers) == 2, workers
    await wait_for_listeners(conn, 2)
    pet = await server.arrive("Shared", "1.00")
    start = (await server.events_page_by_page())[-1]["cursor"]
    # The suite's HTTP client keeps one connection: close it, so that the
    # count below sees only WebSockets.
    await server.http.aclose()
    server.http = httpx.AsyncClient(base_url=server.url, timeout=30)

    async with contextlib.AsyncExitStack() as stack:
        clients: list[GraphQLWebSocket] = []
        subscriptions: list[Subscription] = []
        # The kernel hands each new connection to one worker: open more
        # until both workers serve some.
        deadline = time.monotonic() + 30
        while len(await worker_of_each_connection(server)) < 2 or len(clients) < 4:
            assert time.monotonic() < deadline, await worker_of_each_connection(server)
            assert len(clients) < 40, "every connection went to the same worker"
            client = await stack.enter_async_context(connect(server))
            clients.append(client)
            subscriptions.append(await client.events(after=start))
        per_worker = await worker_of_each_connection(server)
        assert sorted(per_worker) == sorted(w.pid for w in workers), per_worker

        # Each write on a connection of its own, so that both workers take some.
        written = []
        for price in ("2.00", "3.00", "4.00", "5.00", "6.00", "7.00"):
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                response = await http.post(
                    "/graphql",
                    json={
                        "query": CHANGE_PRICE,
                        "variables": {"input": {"petId": pet, "newPrice": price}},
                    },
                    headers={"Authorization": f"Bearer {API_TOKEN}"},
                )
            payload = response.json()["data"]["changePetPrice"]
            assert payload["userErrors"] == [], payload
            written.append(payload["event"]["id"])
            for subscription in subscriptions:
                (event,) = await subscription.take(1, within=15)
                assert event["id"] == written[-1]

    stream = await server.events_page_by_page(after=start)
    for subscription in subscriptions:
        assert subscription.received == stream
