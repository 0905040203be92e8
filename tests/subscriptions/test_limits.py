"""Limits: subscriptions per connection, WebSocket connections per process."""

from __future__ import annotations

import asyncpg
import pytest

from tests.subscriptions.support import ConnectionClosed, ServerFactory, connect, sql_arrive


async def test_a_subscription_beyond_the_limit_per_connection_gets_an_error(
    serve: ServerFactory, conn: asyncpg.Connection
) -> None:
    server = await serve(PETSTORE_MAX_SUBSCRIPTIONS_PER_CONNECTION="2")
    await sql_arrive(conn, "First")

    async with connect(server) as ws:
        first = await ws.events(after="0")
        second = await ws.events(after="0")
        await first.take(1)
        await second.take(1)

        third = await ws.events(after="0")
        refused = await ws.message(third.id)
        assert refused["type"] == "error", refused
        assert [error["message"] for error in refused["payload"]] == ["Subscription limit reached"]

        # The connection and the two subscriptions carry on.
        await sql_arrive(conn, "Second")
        await first.take(1)
        await second.take(1)
        await third.expect_nothing(0.5)

        # Completing one frees its place.
        await second.complete()
        await second.expect_nothing(0.5)
        fourth = await ws.events(after="0")
        assert [e["name"] for e in await fourth.take(2)] == ["First", "Second"]
        await sql_arrive(conn, "Third")
        assert [e["name"] for e in await first.take(1)] == ["Third"]
        assert [e["name"] for e in await fourth.take(1)] == ["Third"]
        await second.expect_nothing(0.3)


async def test_a_websocket_beyond_the_limit_is_closed_with_1013(
    serve: ServerFactory, conn: asyncpg.Connection
) -> None:
    server = await serve(PETSTORE_MAX_WEBSOCKETS="1")
    await sql_arrive(conn, "First")

    async with connect(server) as ws:
        stream = await ws.events(after="0")
        await stream.take(1)

        async with connect(server, init=False) as refused:
            code, reason = await refused.wait_closed()
            assert code == 1013
            assert "too many connections" in reason
            assert "1" in reason

        # The first connection is unharmed.
        await sql_arrive(conn, "Second")
        await stream.take(1)

    # Its place is free again once it is closed.
    for _ in range(2):
        async with connect(server) as again:
            stream = await again.events(after="0")
            assert [e["name"] for e in await stream.take(2)] == ["First", "Second"]


async def test_a_subscribe_before_connection_init_is_refused(
    serve: ServerFactory,
) -> None:
    server = await serve()
    async with connect(server, init=False) as ws:
        await ws.subscribe("events", "subscription { events { id } }")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.message("1", within=5)
        assert closed.value.code == 4401
