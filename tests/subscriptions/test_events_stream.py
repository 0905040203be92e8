"""The events subscription: catch-up from a cursor, then live; resuming after a
disconnect loses nothing and repeats nothing."""

from __future__ import annotations

import asyncpg

from tests.subscriptions.support import (
    REPORT_LOST,
    Server,
    ServerFactory,
    connect,
    cursors,
    go_live,
    ids,
    sql_arrive,
    sql_change_price,
)


async def write_some(server: Server, conn: asyncpg.Connection, tag: str) -> list[str]:
    """A few events of several types, through the API and by hand; returns
    the pet ids."""
    first = await server.arrive(f"{tag}-1", "10.00")
    second = await sql_arrive(conn, f"{tag}-2", "20.00")
    await server.change_price(first, "11.00")
    await sql_change_price(conn, second, "21.00")
    await server.sell(first, "12.00")
    return [first, second]


async def test_events_from_the_beginning_catch_up_in_stream_order_then_go_live(
    serve: ServerFactory, conn: asyncpg.Connection
) -> None:
    # Written before the server starts: the catch-up reads them from the
    # database, not from the stream's in-memory tail.
    first = await sql_arrive(conn, "before-1", "10.00")
    second = await sql_arrive(conn, "before-2", "20.00")
    await sql_change_price(conn, first, "11.00")
    await sql_change_price(conn, second, "21.00")
    server = await serve()
    await server.sell(first, "12.00")
    existing = await server.events_page_by_page(first=500)
    assert len(existing) == 5

    async with connect(server) as ws:
        stream = await ws.events(after="0")
        caught_up = await stream.take(5)
        assert caught_up == existing
        await stream.expect_nothing(0.5)

        live_pets = await write_some(server, conn, "live")
        await server.write(REPORT_LOST, {"petId": live_pets[1]})
        live = await stream.take(6)
        await stream.expect_nothing(0.5)

    everything = await server.events_page_by_page(first=500)
    assert caught_up + live == everything
    assert [e["type"] for e in live] == [
        "PET_ARRIVED",
        "PET_ARRIVED",
        "PET_PRICE_CHANGE",
        "PET_PRICE_CHANGE",
        "PET_SOLD",
        "PET_LOST",
    ]
    assert len(set(ids(everything))) == len(everything) == 11
    assert len(set(cursors(everything))) == 11


async def test_events_without_after_receive_only_new_events(
    server: Server, conn: asyncpg.Connection
) -> None:
    await write_some(server, conn, "old")
    old = ids(await server.events_page_by_page(first=500))
    sentinels: set[str] = set()

    async def sentinel() -> None:
        sentinels.add(await sql_arrive(conn, "Sentinel"))

    async with connect(server) as ws:
        stream = await ws.events()
        await go_live([stream], sentinel)
        # What arrived so far are sentinels, written after the subscribe.
        assert {e["petId"] for e in stream.received} <= sentinels
        new_pets = await write_some(server, conn, "new")
        new = await stream.take(5, skip=lambda e: e["petId"] in sentinels)
        await stream.expect_nothing(0.5)

    assert not set(old) & set(ids(stream.received))
    assert {e["petId"] for e in new} == set(new_pets)
    everything = await server.events_page_by_page(first=500)
    assert new == everything[-5:]


async def test_events_filter_by_pet_and_types_in_catch_up_and_live(
    server: Server, conn: asyncpg.Connection
) -> None:
    pets = await write_some(server, conn, "a")
    pets += await write_some(server, conn, "b")
    watched = pets[0]
    by_pet_and_type = {"petId": watched, "types": ["PET_PRICE_CHANGE", "PET_SOLD"]}
    by_types = {"types": ["PET_ARRIVED"]}
    by_pet = {"petId": pets[1]}
    expected_before = {
        "both": await server.events_page_by_page(filter=by_pet_and_type),
        "types": await server.events_page_by_page(filter=by_types),
        "pet": await server.events_page_by_page(filter=by_pet),
    }
    assert [len(v) for v in expected_before.values()] == [2, 4, 2]

    async with connect(server) as ws:
        subscriptions = {
            "both": await ws.events(after="0", filter=by_pet_and_type),
            "types": await ws.events(after="0", filter=by_types),
            "pet": await ws.events(after="0", filter=by_pet),
        }
        for name, subscription in subscriptions.items():
            assert await subscription.take(len(expected_before[name])) == expected_before[name]

        # Live: a fresh pet (arrival only), price changes on the watched pet
        # (sold already: refused, so written on pets[1]) and more.
        await server.arrive("c", "1.00")
        await server.change_price(pets[1], "22.00")
        await sql_change_price(conn, pets[3], "5.00")
        live = {
            "types": await subscriptions["types"].take(1),
            "pet": await subscriptions["pet"].take(1),
        }
        for subscription in subscriptions.values():
            await subscription.expect_nothing(0.5)

    assert live["types"][0]["type"] == "PET_ARRIVED"
    assert live["pet"][0]["petId"] == pets[1]
    assert live["pet"][0]["newPrice"] == "22.00"
    for name, filter in (("types", by_types), ("pet", by_pet)):
        assert expected_before[name] + live[name] == await server.events_page_by_page(filter=filter)
    assert {e["petId"] for e in expected_before["both"]} == {watched}
    assert [e["type"] for e in expected_before["both"]] == ["PET_PRICE_CHANGE", "PET_SOLD"]


async def test_resuming_from_any_cursor_yields_exactly_the_missed_events(
    server: Server, conn: asyncpg.Connection
) -> None:
    await write_some(server, conn, "first")

    async with connect(server) as ws:
        stream = await ws.events(after="0")
        seen = await stream.take(5)
        await write_some(server, conn, "second")
        seen += await stream.take(5)
    # Disconnected: these are missed.
    missed_pets = await write_some(server, conn, "missed")
    await sql_change_price(conn, missed_pets[1], "99.00")

    everything = await server.events_page_by_page(first=500)
    assert everything[:10] == seen
    missed = everything[10:]
    assert len(missed) == 6

    async with connect(server) as ws:
        resumed = await ws.events(after=seen[-1]["cursor"])
        assert await resumed.take(6) == missed
        await resumed.expect_nothing(0.5)
        await server.change_price(missed_pets[1], "100.00")
        (latest,) = await resumed.take(1)
        await resumed.expect_nothing(0.5)
    assert latest["newPrice"] == "100.00"
    everything.append(latest)

    # Every cursor is a place to resume from: the subscription and the query
    # from it agree, and both hold exactly what follows it.
    async with connect(server) as ws:
        for index in (0, 3, 9, 15):
            cursor = everything[index]["cursor"]
            rest = everything[index + 1 :]
            from_cursor = await ws.events(after=cursor)
            assert await from_cursor.take(len(rest)) == rest
            await from_cursor.expect_nothing(0.3)
            await from_cursor.complete()
            assert await server.events_page_by_page(after=cursor, first=2) == rest
        last = await ws.events(after=everything[-1]["cursor"])
        await last.expect_nothing(0.5)
    assert await server.events_page_by_page(after=everything[-1]["cursor"]) == []


async def test_a_cursor_that_is_not_an_event_cursor_is_refused(server: Server) -> None:
    pet = await server.arrive("Rex", "1.00")
    pet_cursor = (await server.graphql("{ pets { edges { cursor } } }"))["pets"]["edges"][0]
    async with connect(server) as ws:
        for after in ("not a cursor", pet_cursor["cursor"]):
            subscription = await ws.events(after=after)
            message = await ws.message(subscription.id)
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], message
        # The connection still serves.
        stream = await ws.events(after="0")
        (arrival,) = await stream.take(1)
    assert arrival["petId"] == pet
