"""The rules of design §3, enforced by the triggers on every event table: each
event type's effect on `pets`, and each rejection with its own error, after
which nothing is stored."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import asyncpg
import pytest

from tests.database.rules import (
    CHECK_VIOLATION,
    EVENT_TABLES,
    EVENT_TYPES,
    NOT_NULL_VIOLATION,
    NUMERIC_OVERFLOW,
    STRING_TOO_LONG,
    arrive,
    assert_fails,
    assert_rejected,
    insert_event,
    lose,
    pet,
    sell,
    valid_event,
)

MAY_10 = datetime.date(2024, 5, 10)


async def today(conn: asyncpg.Connection) -> datetime.date:
    value: datetime.date = await conn.fetchval("select current_date")
    return value


# --- PetArrived ---------------------------------------------------------------


async def test_arrival_adds_an_available_pet_at_its_price(conn: asyncpg.Connection) -> None:
    pet_id = uuid.uuid4()
    event = await insert_event(
        conn,
        "pet_arrived_events",
        pet_id=pet_id,
        name="Fluffy",
        species="Cat",
        price=Decimal("100.00"),
    )
    assert (event["event_type"], event["pet_version"]) == ("PET_ARRIVED", 1)
    assert await pet(conn, pet_id) == {
        "id": pet_id,
        "name": "Fluffy",
        "species": "Cat",
        "current_price": Decimal("100.00"),
        "status": "AVAILABLE",
        "customer_id": None,
        "mother_id": None,
        "last_event_id": event["id"],
        "created_at": event["created_at"],
        "updated_at": event["created_at"],
        "version": 1,
    }


async def test_arrival_of_an_existing_pet_id_is_rejected(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    await assert_rejected(
        conn,
        "PET_ALREADY_EXISTS",
        "pet_arrived_events",
        pet_id=pet_id,
        name="Other",
        species="Dog",
        price=Decimal("1.00"),
    )


async def test_arrival_with_the_id_of_a_born_pet_is_rejected(conn: asyncpg.Connection) -> None:
    born = await valid_event(conn, "pet_born_events")
    await insert_event(conn, "pet_born_events", **born)
    await assert_rejected(
        conn,
        "PET_ALREADY_EXISTS",
        "pet_arrived_events",
        pet_id=born["pet_id"],
        name="Other",
        species="Cat",
        price=Decimal("1.00"),
    )


async def test_event_without_pet_id_is_a_validation_failure(conn: asyncpg.Connection) -> None:
    await assert_rejected(
        conn, "VALIDATION_FAILED", "pet_arrived_events", name="Rex", species="Dog", price=1
    )


# --- PetBorn ------------------------------------------------------------------


async def test_birth_adds_an_available_pet_with_its_mother(conn: asyncpg.Connection) -> None:
    mother_id = await arrive(conn, name="Tabby", species="Cat", price=Decimal("80.00"))
    mother_before = await pet(conn, mother_id)
    pet_id = uuid.uuid4()
    event = await insert_event(
        conn,
        "pet_born_events",
        pet_id=pet_id,
        mother_id=mother_id,
        name="Kitten",
        species="Cat",
        price=Decimal("25.50"),
    )
    assert (event["event_type"], event["pet_version"]) == ("PET_BORN", 1)
    assert await pet(conn, pet_id) == {
        "id": pet_id,
        "name": "Kitten",
        "species": "Cat",
        "current_price": Decimal("25.50"),
        "status": "AVAILABLE",
        "customer_id": None,
        "mother_id": mother_id,
        "last_event_id": event["id"],
        "created_at": event["created_at"],
        "updated_at": event["created_at"],
        "version": 1,
    }
    assert await pet(conn, mother_id) == mother_before


async def test_birth_without_species_takes_the_mothers(conn: asyncpg.Connection) -> None:
    mother_id = await arrive(conn, species="Hamster")
    event = await insert_event(
        conn,
        "pet_born_events",
        pet_id=uuid.uuid4(),
        mother_id=mother_id,
        name="Pip",
        price=Decimal("3.00"),
    )
    assert event["species"] == "Hamster"
    born = await pet(conn, event["pet_id"])
    assert born is not None
    assert born["species"] == "Hamster"


async def test_birth_of_an_existing_pet_id_is_rejected(conn: asyncpg.Connection) -> None:
    mother_id = await arrive(conn, species="Cat")
    existing = await arrive(conn, species="Cat")
    await assert_rejected(
        conn,
        "PET_ALREADY_EXISTS",
        "pet_born_events",
        pet_id=existing,
        mother_id=mother_id,
        name="Kit",
        species="Cat",
        price=Decimal("1.00"),
    )


async def test_birth_to_a_missing_mother_is_rejected(conn: asyncpg.Connection) -> None:
    await assert_rejected(
        conn,
        "MOTHER_NOT_FOUND",
        "pet_born_events",
        pet_id=uuid.uuid4(),
        mother_id=uuid.uuid4(),
        name="Kit",
        species="Cat",
        price=Decimal("1.00"),
    )


async def test_birth_without_mother_is_rejected(conn: asyncpg.Connection) -> None:
    await assert_rejected(
        conn,
        "MOTHER_NOT_FOUND",
        "pet_born_events",
        pet_id=uuid.uuid4(),
        name="Kit",
        species="Cat",
        price=Decimal("1.00"),
    )


async def test_birth_to_a_sold_mother_is_rejected(conn: asyncpg.Connection) -> None:
    mother_id = await arrive(conn, species="Cat")
    await sell(conn, mother_id)
    await assert_rejected(
        conn,
        "MOTHER_NOT_IN_STORE",
        "pet_born_events",
        pet_id=uuid.uuid4(),
        mother_id=mother_id,
        name="Kit",
        price=Decimal("1.00"),
    )


async def test_birth_to_a_lost_mother_is_rejected(conn: asyncpg.Connection) -> None:
    mother_id = await arrive(conn, species="Cat")
    await lose(conn, mother_id)
    await assert_rejected(
        conn,
        "MOTHER_NOT_IN_STORE",
        "pet_born_events",
        pet_id=uuid.uuid4(),
        mother_id=mother_id,
        name="Kit",
        price=Decimal("1.00"),
    )


async def test_birth_of_another_species_than_the_mothers_is_rejected(
    conn: asyncpg.Connection,
) -> None:
    mother_id = await arrive(conn, species="Cat")
    await assert_rejected(
        conn,
        "SPECIES_MISMATCH",
        "pet_born_events",
        pet_id=uuid.uuid4(),
        mother_id=mother_id,
        name="Puppy",
        species="Dog",
        price=Decimal("1.00"),
    )


# --- PetSold ------------------------------------------------------------------


async def test_sale_marks_the_pet_sold_to_its_customer(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn, name="Rex", species="Dog", price=Decimal("50.00"))
    before = await pet(conn, pet_id)
    assert before is not None
    customer_id = uuid.uuid4()
    event = await insert_event(
        conn,
        "pet_sold_events",
        pet_id=pet_id,
        customer_id=customer_id,
        sale_price=Decimal("45.00"),
    )
    assert (event["event_type"], event["pet_version"]) == ("PET_SOLD", 2)
    assert await pet(conn, pet_id) == {
        **before,
        "status": "SOLD",
        "customer_id": customer_id,
        "current_price": Decimal("50.00"),
        "last_event_id": event["id"],
        "updated_at": event["created_at"],
        "version": 2,
    }
    assert event["created_at"] >= before["updated_at"]


async def test_sale_of_a_missing_pet_is_rejected(conn: asyncpg.Connection) -> None:
    await assert_rejected(
        conn,
        "PET_NOT_FOUND",
        "pet_sold_events",
        pet_id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        sale_price=Decimal("1.00"),
    )


async def test_sale_of_a_sold_pet_is_rejected_as_already_sold(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    await sell(conn, pet_id)
    error = await assert_rejected(
        conn,
        "PET_ALREADY_SOLD",
        "pet_sold_events",
        pet_id=pet_id,
        customer_id=uuid.uuid4(),
        sale_price=Decimal("1.00"),
    )
    assert str(error) == f"PET_ALREADY_SOLD: pet {pet_id} is already sold"


async def test_sale_of_a_lost_pet_is_rejected(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    await lose(conn, pet_id)
    await assert_rejected(
        conn,
        "PET_NOT_AVAILABLE",
        "pet_sold_events",
        pet_id=pet_id,
        customer_id=uuid.uuid4(),
        sale_price=Decimal("1.00"),
    )


# --- PetPriceChange -----------------------------------------------------------


async def test_price_change_sets_the_current_price(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn, price=Decimal("100.00"))
    before = await pet(conn, pet_id)
    assert before is not None
    event = await insert_event(
        conn,
        "pet_price_change_events",
        pet_id=pet_id,
        new_price=Decimal("120.00"),
        old_price=Decimal("100.00"),
    )
    assert (event["event_type"], event["pet_version"]) == ("PET_PRICE_CHANGE", 2)
    assert await pet(conn, pet_id) == {
        **before,
        "current_price": Decimal("120.00"),
        "last_event_id": event["id"],
        "updated_at": event["created_at"],
        "version": 2,
    }


async def test_price_change_without_old_price_records_the_current_price(
    conn: asyncpg.Connection,
) -> None:
    pet_id = await arrive(conn, price=Decimal("100.00"))
    first = await insert_event(
        conn, "pet_price_change_events", pet_id=pet_id, new_price=Decimal("80.00")
    )
    second = await insert_event(
        conn, "pet_price_change_events", pet_id=pet_id, new_price=Decimal("0.00")
    )
    assert (first["old_price"], first["new_price"]) == (Decimal("100.00"), Decimal("80.00"))
    assert (second["old_price"], second["new_price"]) == (Decimal("80.00"), Decimal("0.00"))
    after = await pet(conn, pet_id)
    assert after is not None
    assert (after["current_price"], after["version"]) == (Decimal("0.00"), 3)


async def test_price_change_with_a_wrong_old_price_is_rejected(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn, price=Decimal("100.00"))
    await assert_rejected(
        conn,
        "OLD_PRICE_MISMATCH",
        "pet_price_change_events",
        pet_id=pet_id,
        new_price=Decimal("120.00"),
        old_price=Decimal("99.99"),
    )


async def test_price_change_of_a_missing_pet_is_rejected(conn: asyncpg.Connection) -> None:
    await assert_rejected(
        conn,
        "PET_NOT_FOUND",
        "pet_price_change_events",
        pet_id=uuid.uuid4(),
        new_price=Decimal("1.00"),
    )


async def test_price_change_of_a_sold_pet_is_rejected(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    await sell(conn, pet_id)
    await assert_rejected(
        conn,
        "PET_ALREADY_SOLD",
        "pet_price_change_events",
        pet_id=pet_id,
        new_price=Decimal("1.00"),
    )


async def test_price_change_of_a_lost_pet_is_allowed(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn, price=Decimal("10.00"))
    await lose(conn, pet_id)
    event = await insert_event(
        conn, "pet_price_change_events", pet_id=pet_id, new_price=Decimal("5.00")
    )
    after = await pet(conn, pet_id)
    assert after is not None
    assert (after["status"], after["current_price"], after["version"]) == (
        "LOST",
        Decimal("5.00"),
        3,
    )
    assert after["last_event_id"] == event["id"]


# --- PetLost ------------------------------------------------------------------


async def test_loss_marks_the_pet_lost_today_by_default(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    before = await pet(conn, pet_id)
    assert before is not None
    event = await insert_event(
        conn, "pet_lost_events", pet_id=pet_id, last_seen_location="the park"
    )
    assert (event["event_type"], event["pet_version"]) == ("PET_LOST", 2)
    assert event["lost_date"] == await today(conn)
    assert event["last_seen_location"] == "the park"
    assert await pet(conn, pet_id) == {
        **before,
        "status": "LOST",
        "last_event_id": event["id"],
        "updated_at": event["created_at"],
        "version": 2,
    }


async def test_loss_of_a_missing_pet_is_rejected(conn: asyncpg.Connection) -> None:
    await assert_rejected(conn, "PET_NOT_FOUND", "pet_lost_events", pet_id=uuid.uuid4())


async def test_loss_of_a_sold_pet_is_rejected(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    await sell(conn, pet_id)
    await assert_rejected(conn, "PET_NOT_AVAILABLE", "pet_lost_events", pet_id=pet_id)


async def test_loss_of_a_lost_pet_is_rejected(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    await lose(conn, pet_id)
    await assert_rejected(conn, "PET_NOT_AVAILABLE", "pet_lost_events", pet_id=pet_id)


# --- PetFoundAgain ------------------------------------------------------------


async def test_finding_a_lost_pet_makes_it_available_today_by_default(
    conn: asyncpg.Connection,
) -> None:
    pet_id = await arrive(conn)
    await lose(conn, pet_id)
    before = await pet(conn, pet_id)
    assert before is not None
    event = await insert_event(conn, "pet_found_events", pet_id=pet_id, found_location="the pond")
    assert (event["event_type"], event["pet_version"]) == ("PET_FOUND_AGAIN", 3)
    assert event["found_date"] == await today(conn)
    assert await pet(conn, pet_id) == {
        **before,
        "status": "AVAILABLE",
        "last_event_id": event["id"],
        "updated_at": event["created_at"],
        "version": 3,
    }


async def test_finding_a_pet_on_the_day_it_was_lost_is_allowed(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    await lose(conn, pet_id, MAY_10)
    event = await insert_event(conn, "pet_found_events", pet_id=pet_id, found_date=MAY_10)
    after = await pet(conn, pet_id)
    assert after is not None
    assert (after["status"], after["version"], after["last_event_id"]) == (
        "AVAILABLE",
        3,
        event["id"],
    )


async def test_finding_a_pet_before_it_was_lost_is_rejected(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    await lose(conn, pet_id, MAY_10)
    await assert_rejected(
        conn,
        "FOUND_BEFORE_LOST",
        "pet_found_events",
        pet_id=pet_id,
        found_date=MAY_10 - datetime.timedelta(days=1),
    )


async def test_finding_is_checked_against_the_latest_loss(conn: asyncpg.Connection) -> None:
    pet_id = await arrive(conn)
    await lose(conn, pet_id, datetime.date(2024, 1, 1))
    await insert_event(
        conn, "pet_found_events", pet_id=pet_id, found_date=datetime.date(2024, 1, 5)
    )
    await lose(conn, pet_id, MAY_10)
    await assert_rejected(
        conn,
        "FOUND_BEFORE_LOST",
        "pet_found_events",
        pet_id=pet_id,
        found_date=datetime.date(2024, 2, 1),
    )


async def test_finding_a_missing_pet_is_rejected(conn: asyncpg.Connection) -> None:
    await assert_rejected(conn, "PET_NOT_FOUND", "pet_found_events", pet_id=uuid.uuid4())


async def test_finding_a_pet_that_is_not_lost_is_rejected(conn: asyncpg.Connection) -> None:
    available = await arrive(conn)
    sold = await arrive(conn)
    await sell(conn, sold)
    await assert_rejected(conn, "PET_NOT_LOST", "pet_found_events", pet_id=available)
    await assert_rejected(conn, "PET_NOT_LOST", "pet_found_events", pet_id=sold)


# --- Validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("pet_arrived_events", "price"),
        ("pet_born_events", "price"),
        ("pet_sold_events", "sale_price"),
        ("pet_price_change_events", "new_price"),
    ],
)
async def test_negative_price_is_rejected(
    conn: asyncpg.Connection, table: str, column: str
) -> None:
    values = await valid_event(conn, table)
    values[column] = Decimal("-0.01")
    await assert_rejected(
        conn, CHECK_VIOLATION, table, constraint=f"{table}_{column}_not_negative", **values
    )


async def test_price_too_large_for_ten_digits_is_rejected(conn: asyncpg.Connection) -> None:
    values = await valid_event(conn, "pet_arrived_events")
    values["price"] = Decimal("100000000.00")
    await assert_rejected(conn, NUMERIC_OVERFLOW, "pet_arrived_events", **values)


@pytest.mark.parametrize("blank", ["", " ", "   "])
@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("pet_arrived_events", "name"),
        ("pet_arrived_events", "species"),
        ("pet_born_events", "name"),
    ],
)
async def test_blank_name_or_species_is_rejected(
    conn: asyncpg.Connection, table: str, column: str, blank: str
) -> None:
    values = await valid_event(conn, table)
    values[column] = blank
    await assert_rejected(
        conn, CHECK_VIOLATION, table, constraint=f"{table}_{column}_not_blank", **values
    )


@pytest.mark.parametrize("column", ["name", "species"])
async def test_name_or_species_of_tabs_and_line_breaks_is_rejected(
    conn: asyncpg.Connection, column: str
) -> None:
    values = await valid_event(conn, "pet_arrived_events")
    values[column] = "\t\r\n \x0b\x0c"
    await assert_rejected(
        conn,
        CHECK_VIOLATION,
        "pet_arrived_events",
        constraint=f"pet_arrived_events_{column}_not_blank",
        **values,
    )


async def test_missing_species_of_an_arrival_is_rejected(conn: asyncpg.Connection) -> None:
    values = await valid_event(conn, "pet_arrived_events")
    del values["species"]
    await assert_rejected(
        conn,
        CHECK_VIOLATION,
        "pet_arrived_events",
        constraint="pet_arrived_events_species_not_blank",
        **values,
    )


async def test_missing_name_of_an_arrival_violates_not_null(conn: asyncpg.Connection) -> None:
    values = await valid_event(conn, "pet_arrived_events")
    del values["name"]
    error = await assert_rejected(conn, NOT_NULL_VIOLATION, "pet_arrived_events", **values)
    assert error.column_name == "name"


async def test_names_and_species_are_trimmed(conn: asyncpg.Connection) -> None:
    arrived = await insert_event(
        conn,
        "pet_arrived_events",
        pet_id=uuid.uuid4(),
        name="  Fluffy \t",
        species="\n Cat\r\n",
        price=Decimal("1.00"),
    )
    born = await insert_event(
        conn,
        "pet_born_events",
        pet_id=uuid.uuid4(),
        mother_id=arrived["pet_id"],
        name=" Kit",
        species="Cat  ",
        price=Decimal("1.00"),
    )
    assert (arrived["name"], arrived["species"]) == ("Fluffy", "Cat")
    assert (born["name"], born["species"]) == ("Kit", "Cat")
    rows = await conn.fetch("select name, species from pets order by name")
    assert [tuple(row) for row in rows] == [("Fluffy", "Cat"), ("Kit", "Cat")]


@pytest.mark.parametrize(
    ("table", "column"),
    [("pet_lost_events", "last_seen_location"), ("pet_found_events", "found_location")],
)
async def test_location_longer_than_1000_characters_is_rejected(
    conn: asyncpg.Connection, table: str, column: str
) -> None:
    values = await valid_event(conn, table)
    values[column] = "x" * 1001
    await assert_rejected(
        conn, CHECK_VIOLATION, table, constraint=f"{table}_{column}_not_too_long", **values
    )
    values[column] = "x" * 1000
    assert (await insert_event(conn, table, **values))[column] == "x" * 1000


async def test_name_longer_than_100_characters_is_rejected(conn: asyncpg.Connection) -> None:
    values = await valid_event(conn, "pet_arrived_events")
    values["name"] = "x" * 101
    await assert_rejected(conn, STRING_TOO_LONG, "pet_arrived_events", **values)


@pytest.mark.parametrize("table", EVENT_TABLES)
async def test_child_table_rejects_another_event_type(conn: asyncpg.Connection, table: str) -> None:
    values = await valid_event(conn, table)
    other = next(t for name, t in EVENT_TYPES.items() if name != table)
    await assert_rejected(
        conn, CHECK_VIOLATION, table, constraint=f"{table}_type", event_type=other, **values
    )


@pytest.mark.parametrize("table", EVENT_TABLES)
async def test_omitted_event_type_is_the_tables_own(conn: asyncpg.Connection, table: str) -> None:
    values = await valid_event(conn, table)
    event = await insert_event(conn, table, **values)
    assert event["event_type"] == EVENT_TYPES[table]


@pytest.mark.parametrize("table", EVENT_TABLES)
async def test_event_type_given_explicitly_is_accepted(
    conn: asyncpg.Connection, table: str
) -> None:
    values = await valid_event(conn, table)
    event = await insert_event(conn, table, event_type=EVENT_TYPES[table], **values)
    assert event["event_type"] == EVENT_TYPES[table]


async def test_insert_into_the_base_events_table_is_rejected(conn: asyncpg.Connection) -> None:
    await assert_fails(
        conn,
        CHECK_VIOLATION,
        "insert into events (event_type, pet_id, pet_version) values ('PET_ARRIVED', $1, 1)",
        uuid.uuid4(),
        constraint="events_is_abstract",
    )


@pytest.mark.parametrize("metadata", ["[]", '["a"]', '"text"', "42", "true", "null"])
async def test_metadata_that_is_not_a_json_object_is_rejected(
    conn: asyncpg.Connection, metadata: str
) -> None:
    values = await valid_event(conn, "pet_arrived_events")
    await assert_rejected(
        conn,
        CHECK_VIOLATION,
        "pet_arrived_events",
        constraint="events_metadata_is_object",
        metadata=metadata,
        **values,
    )


async def test_sql_null_metadata_is_rejected(conn: asyncpg.Connection) -> None:
    values = await valid_event(conn, "pet_arrived_events")
    error = await assert_rejected(
        conn, NOT_NULL_VIOLATION, "pet_arrived_events", metadata=None, **values
    )
    assert error.column_name == "metadata"


async def test_metadata_is_an_empty_object_by_default_and_kept_as_given(
    conn: asyncpg.Connection,
) -> None:
    plain = await insert_event(
        conn, "pet_arrived_events", **await valid_event(conn, "pet_arrived_events")
    )
    tagged = await insert_event(
        conn,
        "pet_arrived_events",
        metadata='{"source": "psql", "n": [1, 2]}',
        **await valid_event(conn, "pet_arrived_events"),
    )
    assert plain["metadata"] == "{}"
    assert tagged["metadata"] == '{"n": [1, 2], "source": "psql"}'


async def test_stored_columns_derived_by_the_database_override_given_ones(
    conn: asyncpg.Connection,
) -> None:
    pet_id = await arrive(conn)
    event = await insert_event(
        conn,
        "pet_sold_events",
        pet_id=pet_id,
        customer_id=uuid.uuid4(),
        sale_price=Decimal("1.00"),
        pet_version=7,
        created_at=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
    )
    after = await pet(conn, pet_id)
    assert after is not None
    assert event["pet_version"] == after["version"] == 2
    assert event["created_at"] == after["updated_at"] > after["created_at"]
