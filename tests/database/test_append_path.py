"""The guarantees of the append path that sql/0013 rebuilt for speed: the fold
applied by the trigger equals pet_fold() over the history for every event
type, a pet's events are strictly ordered in time and version, concurrent
events on one pet serialise on its row, the expected version is checked under
the lock after the rule, a found date is checked against the latest of
several losses, and an INSERT that stores no event changes no pet."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import uuid
from decimal import Decimal

import asyncpg

from tests.database.rules import (
    PET_COLUMNS,
    arrive,
    assert_rejected,
    insert_event,
    lose,
    pet,
    record_one_of_each,
    sell,
)
from tests.database.test_concurrency import connections

CONCURRENT_CHANGES = 12


async def test_pets_equals_pet_fold_over_the_history_after_every_event_type(
    conn: asyncpg.Connection,
) -> None:
    events = await record_one_of_each(conn)
    # More than one event of each kind on one pet, and a pet that is found
    # again after its price changed while it was lost.
    other = await arrive(conn, name="Max", species="Dog")
    await lose(conn, other)
    await insert_event(conn, "pet_price_change_events", pet_id=other, new_price=Decimal("4.50"))
    await insert_event(conn, "pet_found_events", pet_id=other, found_location="the yard")
    await sell(conn, other)
    columns = ", ".join(PET_COLUMNS)
    stored = await conn.fetch(f"select {columns} from pets order by id")
    replayed = await conn.fetch(
        f"select {columns} from pets_replayed(array(select id from pets)) order by id"
    )
    assert len(stored) == 3
    assert [dict(row) for row in stored] == [dict(row) for row in replayed]
    # And each pet row names the last event that was applied to it.
    for row in stored:
        last = await conn.fetchval(
            "select id from pet_event_log where pet_id = $1 order by pet_version desc limit 1",
            row["id"],
        )
        assert row["last_event_id"] == last
    assert {e["event_type"] for e in events} == {
        "PET_ARRIVED",
        "PET_BORN",
        "PET_SOLD",
        "PET_PRICE_CHANGE",
        "PET_LOST",
        "PET_FOUND_AGAIN",
    }


async def test_a_pets_events_in_one_transaction_are_strictly_ordered_in_time(
    conn: asyncpg.Connection,
) -> None:
    pet_id = await arrive(conn)
    async with conn.transaction():
        # now() is the same for the whole transaction; created_at must not be.
        for cents in range(100, 120):
            await insert_event(
                conn,
                "pet_price_change_events",
                pet_id=pet_id,
                new_price=Decimal(cents).scaleb(-2),
            )
    rows = await conn.fetch(
        "select pet_version, created_at from pet_event_log where pet_id = $1 order by pet_version",
        pet_id,
    )
    assert [row["pet_version"] for row in rows] == list(range(1, 22))
    times = [row["created_at"] for row in rows]
    assert all(earlier < later for earlier, later in itertools.pairwise(times))
    after = await pet(conn, pet_id)
    assert after is not None
    assert (after["version"], after["updated_at"]) == (21, times[-1])


async def test_concurrent_price_changes_of_one_pet_each_apply_to_the_one_before(
    conn: asyncpg.Connection, database_url: str
) -> None:
    pet_id = await arrive(conn, price=Decimal("1.00"))
    prices = [Decimal(100 + n).scaleb(-2) for n in range(CONCURRENT_CHANGES)]
    async with connections(database_url, CONCURRENT_CHANGES) as writers:
        await asyncio.gather(
            *(
                writer.execute(
                    "insert into pet_price_change_events (pet_id, new_price) values ($1, $2)",
                    pet_id,
                    price,
                )
                for writer, price in zip(writers, prices, strict=True)
            )
        )
    rows = await conn.fetch(
        "select pet_version, old_price, new_price from pet_price_change_events"
        " where pet_id = $1 order by pet_version",
        pet_id,
    )
    assert [row["pet_version"] for row in rows] == list(range(2, CONCURRENT_CHANGES + 2))
    # Each event read the price that the one before it left: no lost update.
    olds = [row["old_price"] for row in rows]
    assert olds == [Decimal("1.00"), *(row["new_price"] for row in rows[:-1])]
    after = await pet(conn, pet_id)
    assert after is not None
    assert (after["current_price"], after["version"]) == (
        rows[-1]["new_price"],
        CONCURRENT_CHANGES + 1,
    )


async def test_expected_version_is_checked_under_the_lock_after_the_rule(
    conn: asyncpg.Connection,
) -> None:
    pet_id = await arrive(conn)
    changed = await insert_event(
        conn,
        "pet_price_change_events",
        pet_id=pet_id,
        new_price=Decimal("2.00"),
        expected_version=1,
    )
    assert changed["pet_version"] == 2
    stale = await assert_rejected(
        conn,
        "VERSION_CONFLICT",
        "pet_price_change_events",
        pet_id=pet_id,
        new_price=Decimal("3.00"),
        expected_version=1,
    )
    assert stale.detail == "2"
    await assert_rejected(
        conn,
        "VALIDATION_FAILED",
        "pet_price_change_events",
        pet_id=pet_id,
        new_price=Decimal("3.00"),
        expected_version=-1,
    )
    await sell(conn, pet_id)
    # The rule is reported before a stale version.
    await assert_rejected(
        conn,
        "PET_ALREADY_SOLD",
        "pet_price_change_events",
        pet_id=pet_id,
        new_price=Decimal("3.00"),
        expected_version=1,
    )
    await assert_rejected(
        conn,
        "PET_ALREADY_EXISTS",
        "pet_arrived_events",
        pet_id=pet_id,
        name="Rex",
        species="Dog",
        price=Decimal("1.00"),
        expected_version=0,
    )
    fresh = await insert_event(
        conn,
        "pet_arrived_events",
        pet_id=uuid.uuid4(),
        name="New",
        species="Cat",
        price=Decimal("1.00"),
        expected_version=0,
    )
    assert fresh["pet_version"] == 1


async def test_finding_is_checked_against_the_latest_of_several_losses(
    conn: asyncpg.Connection,
) -> None:
    pet_id = await arrive(conn)
    for lost_on, found_on in ((1, 3), (10, 12), (20, None)):
        await lose(conn, pet_id, datetime.date(2024, 6, lost_on))
        if found_on is not None:
            await insert_event(
                conn,
                "pet_found_events",
                pet_id=pet_id,
                found_date=datetime.date(2024, 6, found_on),
            )
    for too_early in (2, 11, 19):
        await assert_rejected(
            conn,
            "FOUND_BEFORE_LOST",
            "pet_found_events",
            pet_id=pet_id,
            found_date=datetime.date(2024, 6, too_early),
        )
    found = await insert_event(
        conn, "pet_found_events", pet_id=pet_id, found_date=datetime.date(2024, 6, 20)
    )
    assert found["pet_version"] == 7


async def test_an_insert_that_stores_no_event_changes_no_pet(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    first = await insert_event(
        conn, "pet_price_change_events", pet_id=pet_id, new_price=Decimal("2.00")
    )
    before = await pet(conn, pet_id)
    # The BEFORE trigger runs for the proposed row; the fold must not, since
    # no row is stored.
    status = await conn.execute(
        "insert into pet_price_change_events (id, pet_id, new_price) values ($1, $2, 5)"
        " on conflict (id) do nothing",
        first["id"],
        pet_id,
    )
    assert status == "INSERT 0 0"
    assert await pet(conn, pet_id) == before
    assert await conn.fetchval("select count(*) from pet_price_change_events") == 1
