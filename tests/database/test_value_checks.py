"""The tests of values that were CHECK constraints until sql/0061-0063 and are now
made by the triggers: the same SQLSTATE, constraint name and table as
before, the rules first, the tests in the constraints' name order, and the
read model's invariants on every write of `pets`, a rebuild's included.
(Each value's own test is in test_rules.py.)"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from tests.database.rules import (
    CHECK_VIOLATION,
    NOT_NULL_VIOLATION,
    arrive,
    assert_fails,
    assert_rejected,
    sell,
    valid_event,
)


async def test_a_rule_is_reported_before_a_bad_value(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    await sell(conn, pet_id)
    await assert_rejected(
        conn, "PET_ALREADY_SOLD", "pet_price_change_events", pet_id=pet_id, new_price=-1
    )


async def test_a_version_conflict_is_reported_before_a_bad_value(
    conn: asyncpg.Connection,
) -> None:
    pet_id = await arrive(conn)
    await assert_rejected(
        conn,
        "VERSION_CONFLICT",
        "pet_price_change_events",
        pet_id=pet_id,
        new_price=-1,
        expected_version=5,
    )


@pytest.mark.parametrize(
    ("table", "bad", "constraint"),
    [
        # name < price < species < type; events_metadata_is_object first of all.
        (
            "pet_arrived_events",
            {"name": " ", "price": Decimal(-1), "event_type": "PET_BORN"},
            "pet_arrived_events_name_not_blank",
        ),
        (
            "pet_arrived_events",
            {"price": Decimal(-1), "event_type": "PET_BORN"},
            "pet_arrived_events_price_not_negative",
        ),
        (
            "pet_arrived_events",
            {"metadata": "[]", "name": " ", "price": Decimal(-1)},
            "events_metadata_is_object",
        ),
        (
            "pet_born_events",
            {"price": Decimal(-1), "event_type": "PET_ARRIVED"},
            "pet_born_events_price_not_negative",
        ),
        (
            "pet_sold_events",
            {"sale_price": Decimal(-1), "event_type": "PET_LOST"},
            "pet_sold_events_sale_price_not_negative",
        ),
        (
            "pet_price_change_events",
            {"new_price": Decimal(-1), "event_type": "PET_SOLD"},
            "pet_price_change_events_new_price_not_negative",
        ),
        (
            "pet_lost_events",
            {"last_seen_location": "x" * 1001, "lost_date": datetime.date(1899, 12, 31)},
            "pet_lost_events_last_seen_location_not_too_long",
        ),
        (
            "pet_lost_events",
            {"lost_date": datetime.date(1899, 12, 31), "event_type": "PET_SOLD"},
            "pet_lost_events_lost_date_plausible",
        ),
        (
            "pet_found_events",
            {"found_date": datetime.date(3000, 1, 1), "found_location": "x" * 1001},
            "pet_found_events_found_date_plausible",
        ),
        (
            "pet_found_events",
            {"found_location": "x" * 1001, "event_type": "PET_LOST"},
            "pet_found_events_found_location_not_too_long",
        ),
    ],
)
async def test_of_several_bad_values_the_first_constraint_by_name_is_reported(
    conn: asyncpg.Connection, table: str, bad: dict[str, Any], constraint: str
) -> None:
    values = {**await valid_event(conn, table), **bad}
    error = await assert_rejected(conn, CHECK_VIOLATION, table, constraint=constraint, **values)
    assert error.table_name == table
    assert str(error) == f'new row for relation "{table}" violates check constraint "{constraint}"'


async def test_a_null_passes_a_test_and_is_refused_by_not_null(conn: asyncpg.Connection) -> None:
    values = await valid_event(conn, "pet_price_change_events")
    error = await assert_rejected(
        conn, NOT_NULL_VIOLATION, "pet_price_change_events", **{**values, "new_price": None}
    )
    assert error.column_name == "new_price"


A_PET = {
    "name": "Rex",
    "species": "Dog",
    "current_price": Decimal(1),
    "status": "AVAILABLE",
    "customer_id": None,
    "mother_id": None,
    "version": 1,
}


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ({"status": "GONE"}, "pets_status"),
        ({"status": "SOLD"}, "pets_sold_has_customer"),
        ({"customer_id": uuid.uuid4()}, "pets_sold_has_customer"),
        ({"version": 0}, "pets_version_positive"),
        ({"status": "GONE", "version": 0}, "pets_status"),
    ],
)
async def test_a_rebuild_may_write_pets_but_only_states_the_fold_can_reach(
    conn: asyncpg.Connection, change: dict[str, Any], constraint: str
) -> None:
    row = {**A_PET, **change}
    insert = f"""
        do $$ begin
            perform set_config('petstore.rebuilding', 'on', true);
            insert into pets (id, name, species, current_price, status, customer_id,
                              mother_id, last_event_id, created_at, updated_at, version)
            values (gen_random_uuid(), '{row["name"]}', '{row["species"]}',
                    {row["current_price"]}, '{row["status"]}',
                    {f"'{row['customer_id']}'" if row["customer_id"] else "null"}, null,
                    gen_random_uuid(), now(), now(), {row["version"]});
        end $$"""
    error = await assert_fails(conn, CHECK_VIOLATION, insert, constraint=constraint)
    assert error.table_name == "pets"


async def test_a_rebuild_writes_a_state_the_fold_can_reach(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        do $$ begin
            perform set_config('petstore.rebuilding', 'on', true);
            insert into pets (id, name, species, current_price, status, customer_id,
                              mother_id, last_event_id, created_at, updated_at, version)
            values (gen_random_uuid(), 'Rex', 'Dog', 1, 'SOLD', gen_random_uuid(), null,
                    gen_random_uuid(), now(), now(), 3);
        end $$"""
    )
    assert await conn.fetchval("select count(*) from pets where status = 'SOLD'") == 1
