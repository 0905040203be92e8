"""The WebSocket and subscription gauges of a real server: live connections,
live subscriptions and their groups, results sent, and the stream reader's
position and lag."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from tests.observability.conftest import access_lines, scrape
from tests.observability.scrapes import Samples, value
from tests.subscriptions.support import Server, ServerFactory, connect, go_live

DEADLINE = 20.0


def pet_of(item: dict[str, Any]) -> str:
    pet_id: str = item["pet"]["id"] if "pet" in item else item["petId"]
    return pet_id


async def until(server: Server, condition: object) -> Samples:
    """A scrape once `condition` holds: the server notices a client that has
    gone only when it next reads from its socket."""
    deadline = time.monotonic() + DEADLINE
    while True:
        samples = await scrape(server)
        if condition(samples):  # type: ignore[operator]
            return samples
        assert time.monotonic() < deadline, {k: v for k, v in samples.items() if "petstore" in k[0]}
        await asyncio.sleep(0.1)


async def test_websockets_subscriptions_and_messages_sent_are_counted(
    serve: ServerFactory,
) -> None:
    server = await serve()
    before = await scrape(server)
    assert value(before, "petstore_websocket_connections") == 0
    assert value(before, "petstore_subscriptions") == 0

    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(connect(server))
        second = await stack.enter_async_context(connect(server))
        subscriptions = [await first.events(), await first.events(), await second.pet_changed()]
        await go_live(subscriptions, server.arrive)
        pet = await server.arrive("Counted")
        for subscription in subscriptions:
            await subscription.take(1, skip=lambda item: pet_of(item) != pet)
        live = await scrape(server)
        sent = sum(len(subscription.received) for subscription in subscriptions)

        assert value(live, "petstore_websocket_connections") == 2
        assert value(live, "petstore_subscriptions") == 3
        # The two `events` subscriptions are alike: they share one execution.
        assert value(live, "petstore_subscription_groups") == 2
        assert (
            value(live, "petstore_subscription_messages_total")
            - value(before, "petstore_subscription_messages_total")
            == sent
        )
        # The stream gauges' query works for the server's role (petstore_api).
        assert value(live, "petstore_database_up") == 1
        # The reader has taken every event it delivered from the tables.
        assert value(live, "petstore_stream_delivery_lag_seconds_count") >= 1
        assert value(live, "petstore_stream_delivered_transaction_id") == value(
            live, "petstore_stream_head_transaction_id"
        )

        await subscriptions[0].complete()
        one_fewer = await until(server, lambda s: value(s, "petstore_subscriptions") == 2)
        assert value(one_fewer, "petstore_websocket_connections") == 2

    gone = await until(
        server,
        lambda s: (
            value(s, "petstore_websocket_connections") == 0
            and value(s, "petstore_subscriptions") == 0
        ),
    )
    assert value(gone, "petstore_subscription_groups") == 0

    # Each subscription left one access line when it ended.
    def over_websockets(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [line for line in lines if line["transport"] == "websocket"]

    lines = await access_lines(server, lambda lines: len(over_websockets(lines)) >= 3)
    ended = over_websockets(lines)
    assert (
        sorted((line["operation_type"], line["outcome"]) for line in ended)
        == [("subscription", "ok")] * 3
    )
    assert sum(line["messages"] for line in ended) == sent
