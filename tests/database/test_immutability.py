"""Events are immutable and `pets` is written by the fold alone (design §3):
every other write fails and changes nothing."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.database.rules import EVENT_TABLES, assert_fails, record_one_of_each, store_contents

ALL_EVENT_TABLES = (*EVENT_TABLES, "events")


@pytest.fixture
async def history(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """One stored event in each child table (an UPDATE or DELETE that matches
    no row would succeed trivially)."""
    return await record_one_of_each(conn)


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("table", ALL_EVENT_TABLES)
async def test_update_of_an_event_is_rejected(conn: asyncpg.Connection, table: str) -> None:
    error = await assert_fails(
        conn, "EVENT_IMMUTABLE", f"update {table} set metadata = '{{\"edited\": true}}'"
    )
    assert str(error).startswith("EVENT_IMMUTABLE: events are immutable: UPDATE on pet_")


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("table", ALL_EVENT_TABLES)
async def test_delete_of_an_event_is_rejected(conn: asyncpg.Connection, table: str) -> None:
    error = await assert_fails(conn, "EVENT_IMMUTABLE", f"delete from {table}")
    assert str(error).startswith("EVENT_IMMUTABLE: events are immutable: DELETE on pet_")


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("table", ALL_EVENT_TABLES)
async def test_truncate_of_an_event_table_is_rejected(conn: asyncpg.Connection, table: str) -> None:
    error = await assert_fails(conn, "EVENT_IMMUTABLE", f"truncate {table}")
    assert str(error).startswith("EVENT_IMMUTABLE: events are immutable: TRUNCATE on ")


@pytest.mark.parametrize("table", EVENT_TABLES)
async def test_truncate_of_an_empty_event_table_is_rejected(
    conn: asyncpg.Connection, table: str
) -> None:
    await assert_fails(conn, "EVENT_IMMUTABLE", f"truncate {table}")


async def test_delete_of_one_event_by_id_through_the_base_table_is_rejected(
    conn: asyncpg.Connection, history: list[asyncpg.Record]
) -> None:
    sold = history[2]
    await assert_fails(conn, "EVENT_IMMUTABLE", "delete from events where id = $1", sold["id"])
    assert await conn.fetchval("select count(*) from events where id = $1", sold["id"]) == 1


async def test_changing_the_pet_of_an_event_is_rejected(
    conn: asyncpg.Connection, history: list[asyncpg.Record]
) -> None:
    await assert_fails(
        conn,
        "EVENT_IMMUTABLE",
        "update pet_sold_events set pet_id = $1 where id = $2",
        uuid.uuid4(),
        history[2]["id"],
    )


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize(
    "statement",
    [
        "update pets set status = 'SOLD', customer_id = gen_random_uuid()",
        "update pets set current_price = 0",
        "delete from pets",
        "truncate pets",
        """insert into pets (id, name, species, current_price, status, last_event_id,
                             created_at, updated_at, version)
           values (gen_random_uuid(), 'Ghost', 'Cat', 1, 'AVAILABLE', gen_random_uuid(),
                   now(), now(), 1)""",
    ],
    ids=["update-status", "update-price", "delete", "truncate", "insert"],
)
async def test_direct_write_to_pets_is_rejected(conn: asyncpg.Connection, statement: str) -> None:
    before = await store_contents(conn)
    assert len(before["pets"]) == 2
    error = await assert_fails(conn, "READ_MODEL_READ_ONLY", statement)
    assert str(error).startswith("READ_MODEL_READ_ONLY: pets is a read model: ")


async def test_direct_write_to_pets_from_a_do_block_is_rejected(
    conn: asyncpg.Connection, history: list[asyncpg.Record]
) -> None:
    await assert_fails(
        conn, "READ_MODEL_READ_ONLY", "do $$ begin update pets set name = 'Renamed'; end $$"
    )
