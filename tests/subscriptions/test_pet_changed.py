"""petChanged: every change of a pet, with the pet as that change left it."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from tests.subscriptions.support import (
    REPORT_FOUND,
    REPORT_LOST,
    Server,
    connect,
    go_live,
    sql_arrive,
    sql_change_price,
)


def summary(change: dict[str, Any]) -> tuple[object, ...]:
    pet, event = change["pet"], change["event"]
    return (pet["id"], event["type"], pet["version"], pet["price"], pet["status"])


async def test_pet_changed_without_filters_receives_every_change_with_the_pet_as_of_that_event(
    server: Server, conn: asyncpg.Connection
) -> None:
    sentinels: set[str] = set()

    async def sentinel() -> None:
        sentinels.add(await sql_arrive(conn, "Sentinel"))

    async with connect(server) as ws:
        changes = await ws.pet_changed()
        await go_live([changes], sentinel)

        # Written back to back, before the subscriber reads any: each message
        # must still carry the pet as of its own event, not the pet as it is.
        pet = await server.arrive("Fluffy", "10.00")
        await server.change_price(pet, "12.50")
        other = await sql_arrive(conn, "Other", "7.00")
        await server.change_price(pet, "14.00")
        customer = str(uuid.uuid4())
        await server.sell(pet, "13.00", customer)
        received = await changes.take(5, skip=lambda c: c["pet"]["id"] in sentinels)

    assert [summary(c) for c in received] == [
        (pet, "PET_ARRIVED", 1, "10.00", "AVAILABLE"),
        (pet, "PET_PRICE_CHANGE", 2, "12.50", "AVAILABLE"),
        (other, "PET_ARRIVED", 1, "7.00", "AVAILABLE"),
        (pet, "PET_PRICE_CHANGE", 3, "14.00", "AVAILABLE"),
        (pet, "PET_SOLD", 4, "14.00", "SOLD"),
    ]
    for change in received:
        assert change["event"]["petId"] == change["pet"]["id"]
        assert change["event"]["petVersion"] == change["pet"]["version"]
        assert change["pet"]["lastEventId"] == change["event"]["id"]
    assert [c["event"].get("newPrice") for c in received] == [None, "12.50", None, "14.00", None]
    assert [c["event"].get("oldPrice") for c in received] == [None, "10.00", None, "12.50", None]
    assert [c["pet"]["customerId"] for c in received] == [None, None, None, None, customer]
    assert received[-1]["event"]["salePrice"] == "13.00"
    # The event ids are those of the stored history, in order.
    history = await conn.fetch(
        "select id from pet_event_log where pet_id = $1 order by pet_version", uuid.UUID(pet)
    )
    assert [c["event"]["id"] for c in received if c["pet"]["id"] == pet] == [
        str(row["id"]) for row in history
    ]


async def test_pet_changed_with_an_id_receives_only_that_pets_changes(
    server: Server, conn: asyncpg.Connection
) -> None:
    pet = await server.arrive("Watched", "20.00")
    other = await server.arrive("Unwatched", "30.00")
    prices = iter(f"{20 + n}.01" for n in range(1, 100))
    sentinels: set[str] = set()

    async def sentinel() -> None:
        sentinels.add(await sql_change_price(conn, pet, next(prices)))

    def is_sentinel(change: dict[str, Any]) -> bool:
        return change["event"]["id"] in sentinels

    async with connect(server) as ws:
        watched = await ws.pet_changed(id=pet)
        everything = await ws.pet_changed()
        await go_live([watched, everything], sentinel)

        await server.change_price(other, "31.00")
        await server.change_price(pet, "25.00")
        await sql_change_price(conn, other, "32.00")
        await server.write(REPORT_LOST, {"petId": pet, "lastSeenLocation": "the park"})
        await server.change_price(other, "33.00")
        await server.write(REPORT_FOUND, {"petId": pet, "foundLocation": "the pond"})
        await server.sell(other, "33.00")
        received = await watched.take(3, skip=is_sentinel)
        # The unfiltered subscription saw the other pet's changes in between:
        # they were there to be filtered out.
        seen = await everything.take(7, skip=is_sentinel)
        await watched.expect_nothing(1.0)

    assert {c["pet"]["id"] for c in received} == {pet}
    versions = [c["pet"]["version"] for c in received]
    assert versions == list(range(versions[0], versions[0] + 3))
    assert [(c["event"]["type"], c["pet"]["status"], c["pet"]["price"]) for c in received] == [
        ("PET_PRICE_CHANGE", "AVAILABLE", "25.00"),
        ("PET_LOST", "LOST", "25.00"),
        ("PET_FOUND_AGAIN", "AVAILABLE", "25.00"),
    ]
    assert [c["pet"]["id"] for c in seen] == [other, pet, other, pet, other, pet, other]


async def test_pet_changed_with_a_status_receives_only_changes_after_which_the_pet_has_it(
    server: Server, conn: asyncpg.Connection
) -> None:
    sentinels: set[str] = set()

    async def sentinel() -> None:
        # One pet that passes through every status: each subscription gets a change.
        pet = await sql_arrive(conn, "Sentinel")
        sentinels.add(pet)
        await server.write(REPORT_LOST, {"petId": pet})
        await server.write(REPORT_FOUND, {"petId": pet})
        await server.sell(pet, "1.00")

    def is_sentinel(change: dict[str, Any]) -> bool:
        return change["pet"]["id"] in sentinels

    async with connect(server) as ws:
        sold = await ws.pet_changed(status=["SOLD"])
        lost = await ws.pet_changed(status=["LOST"])
        lost_or_sold = await ws.pet_changed(status=["LOST", "SOLD"])
        await go_live([sold, lost, lost_or_sold], sentinel)

        first = await server.arrive("First", "10.00")
        second = await server.arrive("Second", "20.00")
        await server.change_price(first, "11.00")
        await server.write(REPORT_LOST, {"petId": second})
        await server.sell(first, "11.00")
        await server.write(REPORT_FOUND, {"petId": second})
        await server.sell(second, "21.00")

        got_sold = await sold.take(2, skip=is_sentinel)
        got_lost = await lost.take(1, skip=is_sentinel)
        got_lost_or_sold = await lost_or_sold.take(3, skip=is_sentinel)
        for subscription in (sold, lost, lost_or_sold):
            await subscription.expect_nothing(0.5)

    assert [summary(c) for c in got_sold] == [
        (first, "PET_SOLD", 3, "11.00", "SOLD"),
        (second, "PET_SOLD", 4, "20.00", "SOLD"),
    ]
    assert [summary(c) for c in got_lost] == [(second, "PET_LOST", 2, "20.00", "LOST")]
    assert [summary(c) for c in got_lost_or_sold] == [
        (second, "PET_LOST", 2, "20.00", "LOST"),
        (first, "PET_SOLD", 3, "11.00", "SOLD"),
        (second, "PET_SOLD", 4, "20.00", "SOLD"),
    ]
