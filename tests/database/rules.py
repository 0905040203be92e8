"""Recording events with plain SQL, as a person in psql would, and checking
that a rejected statement left the store exactly as it was."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

# The rule errors of sql/0004_rejections.sql: ErrorCode -> SQLSTATE.
RULE_SQLSTATES: dict[str, str] = {
    "VALIDATION_FAILED": "PS000",
    "PET_NOT_FOUND": "PS001",
    "PET_ALREADY_EXISTS": "PS002",
    "MOTHER_NOT_FOUND": "PS003",
    "MOTHER_NOT_IN_STORE": "PS004",
    "SPECIES_MISMATCH": "PS005",
    "PET_NOT_AVAILABLE": "PS006",
    "PET_ALREADY_SOLD": "PS007",
    "PET_NOT_LOST": "PS008",
    "OLD_PRICE_MISMATCH": "PS009",
    "FOUND_BEFORE_LOST": "PS010",
    "VERSION_CONFLICT": "PS011",
    "IDEMPOTENCY_KEY_REUSED": "PS012",
    "EVENT_IMMUTABLE": "PS020",
    "READ_MODEL_READ_ONLY": "PS021",
}

# Plain constraint violations, which the API reports as VALIDATION_FAILED.
CHECK_VIOLATION = "23514"
NOT_NULL_VIOLATION = "23502"
STRING_TOO_LONG = "22001"
NUMERIC_OVERFLOW = "22003"

EVENT_TYPES: dict[str, str] = {
    "pet_arrived_events": "PET_ARRIVED",
    "pet_born_events": "PET_BORN",
    "pet_sold_events": "PET_SOLD",
    "pet_price_change_events": "PET_PRICE_CHANGE",
    "pet_lost_events": "PET_LOST",
    "pet_found_events": "PET_FOUND_AGAIN",
}
EVENT_TABLES = tuple(EVENT_TYPES)

# The columns of `pets` named by the contract (design §2).
PET_COLUMNS = (
    "id",
    "name",
    "species",
    "current_price",
    "status",
    "customer_id",
    "mother_id",
    "last_event_id",
    "created_at",
    "updated_at",
    "version",
)


def insert_statement(table: str, values: dict[str, Any]) -> str:
    """INSERT INTO table (the given columns) VALUES ($1, …) RETURNING *."""
    assert table in EVENT_TYPES or table == "events", table
    columns = ", ".join(values)
    placeholders = ", ".join(f"${n}" for n in range(1, len(values) + 1))
    return f"insert into {table} ({columns}) values ({placeholders}) returning *"


async def insert_event(conn: asyncpg.Connection, table: str, **values: Any) -> asyncpg.Record:
    row = await conn.fetchrow(insert_statement(table, values), *values.values())
    assert row is not None
    return row


async def pet(conn: asyncpg.Connection, pet_id: uuid.UUID) -> dict[str, Any] | None:
    """The contract columns of one pet's row, or None."""
    row = await conn.fetchrow(f"select {', '.join(PET_COLUMNS)} from pets where id = $1", pet_id)
    return None if row is None else dict(row)


async def arrive(
    conn: asyncpg.Connection,
    *,
    name: str = "Rex",
    species: str = "Dog",
    price: Decimal = Decimal("10.00"),
) -> uuid.UUID:
    pet_id = uuid.uuid4()
    await insert_event(
        conn, "pet_arrived_events", pet_id=pet_id, name=name, species=species, price=price
    )
    return pet_id


async def sell(conn: asyncpg.Connection, pet_id: uuid.UUID) -> asyncpg.Record:
    return await insert_event(
        conn,
        "pet_sold_events",
        pet_id=pet_id,
        customer_id=uuid.uuid4(),
        sale_price=Decimal("10.00"),
    )


async def lose(
    conn: asyncpg.Connection, pet_id: uuid.UUID, lost_date: datetime.date | None = None
) -> asyncpg.Record:
    if lost_date is None:
        return await insert_event(conn, "pet_lost_events", pet_id=pet_id)
    return await insert_event(conn, "pet_lost_events", pet_id=pet_id, lost_date=lost_date)


async def valid_event(conn: asyncpg.Connection, table: str) -> dict[str, Any]:
    """Prepares a pet on which an event of `table` is allowed, and returns the
    columns of such an event (without event_type)."""
    if table == "pet_arrived_events":
        return {"pet_id": uuid.uuid4(), "name": "Tom", "species": "Cat", "price": Decimal("5.00")}
    if table == "pet_born_events":
        mother_id = await arrive(conn, name="Mum", species="Cat")
        return {
            "pet_id": uuid.uuid4(),
            "mother_id": mother_id,
            "name": "Kit",
            "species": "Cat",
            "price": Decimal("7.50"),
        }
    pet_id = await arrive(conn)
    if table == "pet_sold_events":
        return {"pet_id": pet_id, "customer_id": uuid.uuid4(), "sale_price": Decimal("9.99")}
    if table == "pet_price_change_events":
        return {"pet_id": pet_id, "new_price": Decimal("12.00")}
    if table == "pet_lost_events":
        return {"pet_id": pet_id, "last_seen_location": "the park"}
    if table == "pet_found_events":
        await lose(conn, pet_id)
        return {"pet_id": pet_id, "found_location": "the pond"}
    raise AssertionError(f"not an event table: {table}")


async def record_one_of_each(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """One event of each of the six types, in EVENT_TABLES order; returns them."""
    mother = await insert_event(
        conn,
        "pet_arrived_events",
        pet_id=uuid.uuid4(),
        name="Mum",
        species="Cat",
        price=Decimal("1.00"),
    )
    born = await insert_event(
        conn,
        "pet_born_events",
        pet_id=uuid.uuid4(),
        mother_id=mother["pet_id"],
        name="Kit",
        price=Decimal("2.00"),
    )
    sold = await sell(conn, born["pet_id"])
    changed = await insert_event(
        conn, "pet_price_change_events", pet_id=mother["pet_id"], new_price=Decimal("3.00")
    )
    lost = await lose(conn, mother["pet_id"])
    found = await insert_event(conn, "pet_found_events", pet_id=mother["pet_id"])
    return [mother, born, sold, changed, lost, found]


async def store_contents(conn: asyncpg.Connection) -> dict[str, Any]:
    """Every row of every event table and of pets, and the count of events."""
    contents: dict[str, Any] = {
        "events": await conn.fetchval("select count(*) from events"),
        "events_base_rows": await conn.fetchval("select count(*) from only events"),
    }
    for table in (*EVENT_TABLES, "pets"):
        contents[table] = [dict(row) for row in await conn.fetch(f"select * from {table}")]
        contents[table].sort(key=lambda row: row["id"])
    return contents


def assert_error(error: asyncpg.PostgresError, expected: str, constraint: str | None) -> None:
    """`expected` is an ErrorCode (a rule) or a SQLSTATE (a plain constraint)."""
    if expected in RULE_SQLSTATES:
        assert (error.sqlstate, str(error).split(":")[0]) == (RULE_SQLSTATES[expected], expected), (
            f"{error.sqlstate}: {error}"
        )
    else:
        assert error.sqlstate == expected, str(error)
    if constraint is not None:
        assert error.constraint_name == constraint, str(error)


async def assert_fails(
    conn: asyncpg.Connection,
    expected: str,
    sql: str,
    *args: Any,
    constraint: str | None = None,
) -> asyncpg.PostgresError:
    """Runs `sql`, which must fail with `expected` (an ErrorCode or a SQLSTATE)
    and leave every event table and pets exactly as they were."""
    before = await store_contents(conn)
    with pytest.raises(asyncpg.PostgresError) as caught:
        await conn.execute(sql, *args)
    assert_error(caught.value, expected, constraint)
    assert await store_contents(conn) == before
    return caught.value


async def assert_rejected(
    conn: asyncpg.Connection,
    expected: str,
    table: str,
    *,
    constraint: str | None = None,
    **values: Any,
) -> asyncpg.PostgresError:
    """Inserting `values` into `table` fails with `expected`; nothing is stored."""
    sql = insert_statement(table, values)
    return await assert_fails(conn, expected, sql, *values.values(), constraint=constraint)
