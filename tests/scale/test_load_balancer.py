"""Two `graphql-petstore serve` processes behind a real HAProxy (HTTP and
WebSocket upgrade, round robin, health checks on /readyz): a write through
either server reaches the subscribers of both, and a subscriber whose server
is killed mid-stream reconnects through the balancer with after: its last
cursor and gets every event exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.scale.cluster import Cluster
from tests.scale.proxies import HAProxy
from tests.subscriptions.support import (
    API_TOKEN,
    CHANGE_PRICE,
    ConnectionClosed,
    Endpoint,
    Server,
    connect,
    ids,
    sql_arrive,
    start_server,
)

pytestmark = pytest.mark.once

HEADER = HAProxy.HEADER


@contextlib.asynccontextmanager
async def two_servers_behind_haproxy(
    database_url: str, log_dir: Path
) -> AsyncIterator[tuple[HAProxy, dict[str, Server]]]:
    servers: dict[str, Server] = {}
    balancer: HAProxy | None = None
    try:
        for name in ("s1", "s2"):
            # Only a notification delivers an event within these tests'
            # limits: the poll fallback comes too late.
            servers[name] = await start_server(database_url, log_dir, PETSTORE_POLL_INTERVAL="60")
        balancer = HAProxy({name: server.port for name, server in servers.items()})
        yield balancer, servers
    finally:
        if balancer is not None:
            balancer.stop()
        for server in servers.values():
            await server.close()


async def write_through(balancer: HAProxy, pet: str, price: str, server: str = "") -> str:
    """A price change through the balancer on a connection of its own;
    returns the name of the server that took it."""
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    if server:
        headers[HEADER] = server
    async with httpx.AsyncClient(base_url=balancer.url, timeout=30) as http:
        response = await http.post(
            "/graphql",
            json={"query": CHANGE_PRICE, "variables": {"input": {"petId": pet, "newPrice": price}}},
            headers=headers,
        )
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["changePetPrice"]
    assert payload["userErrors"] == [], payload
    return response.headers[HEADER]


async def test_a_write_through_either_server_reaches_the_subscribers_of_both(
    cluster: Cluster, scale_database: str, tmp_path: Path
) -> None:
    url = cluster.primary.url(scale_database)
    direct = await asyncpg.connect(url)
    try:
        pet = await sql_arrive(direct, "Shared")
    finally:
        await direct.close()
    async with (
        two_servers_behind_haproxy(url, tmp_path) as (balancer, servers),
        contextlib.AsyncExitStack() as stack,
    ):
        endpoint = Endpoint(balancer.graphql_url)
        start = (await servers["s1"].events_page_by_page())[-1]["cursor"]
        placed: list[str] = []
        subscriptions = []
        for pin in ("s1", "s2", "", ""):
            ws = await stack.enter_async_context(
                connect(endpoint, headers={HEADER: pin} if pin else None)
            )
            assert ws.ws.response is not None
            placed.append(ws.ws.response.headers[HEADER])
            subscriptions.append(await ws.events(after=start))
        assert placed[:2] == ["s1", "s2"]
        assert set(placed[2:]) == {"s1", "s2"}, placed  # round robin

        takers = []
        for price in ("2.00", "3.00", "4.00", "5.00"):
            takers.append(await write_through(balancer, pet, price))
            for subscription in subscriptions:
                (event,) = await subscription.take(1, within=15)
                assert event["newPrice"] == price
        assert set(takers) == {"s1", "s2"}, takers
        stream = await servers["s2"].events_page_by_page(after=start)
        for subscription in subscriptions:
            assert subscription.received == stream


async def test_a_subscriber_whose_server_is_killed_resumes_through_the_balancer_losing_nothing(
    cluster: Cluster, scale_database: str, tmp_path: Path
) -> None:
    url = cluster.primary.url(scale_database)
    direct = await asyncpg.connect(url)
    try:
        pets = [await sql_arrive(direct, f"Pet {n}") for n in range(4)]
    finally:
        await direct.close()
    count = 60
    async with two_servers_behind_haproxy(url, tmp_path) as (balancer, servers):
        endpoint = Endpoint(balancer.graphql_url)
        received: list[dict[str, Any]] = []

        async def writer() -> None:
            # Through the server that stays, steadily, while the other dies.
            for n in range(count):
                await write_through(balancer, pets[n % 4], f"{n + 1}.00", server="s2")
                await asyncio.sleep(0.03)

        writing = asyncio.create_task(writer())
        try:
            async with connect(endpoint, headers={HEADER: "s1"}) as ws:
                assert ws.ws.response is not None
                assert ws.ws.response.headers[HEADER] == "s1"
                stream = await ws.events(after="0")
                received.extend(await stream.take(15, within=30))
                os.killpg(servers["s1"].process.pid, signal.SIGKILL)
                with contextlib.suppress(ConnectionClosed, TimeoutError):
                    while True:
                        received.append(await stream.next(within=10))
            # The balancer takes the dead server out; the client resumes from
            # the last cursor it got.
            async with connect(endpoint) as ws:
                assert ws.ws.response is not None
                assert ws.ws.response.headers[HEADER] == "s2"
                resumed = await ws.events(after=received[-1]["cursor"])
                await writing
                expected = len(pets) + count
                received.extend(await resumed.take(expected - len(received), within=30))
                await resumed.expect_nothing(0.5)
        finally:
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing

        stream_order = await servers["s2"].events_page_by_page()
        assert len(stream_order) == len(pets) + count
        assert ids(received) == ids(stream_order)
        assert received == stream_order
