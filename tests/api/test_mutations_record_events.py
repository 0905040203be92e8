"""Each of the six mutations stores its event and returns it with the pet as
the event left it."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from typing import Any

import asyncpg

from tests.api.store import Store, parse_time
from tests.conftest import API_TOKEN_NAME

GENERATED_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


async def stored_event(conn: asyncpg.Connection, event_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "select id, created_at, event_type, metadata::text as metadata, pet_id, pet_version "
        "from events where id = $1",
        uuid.UUID(event_id),
    )
    assert row is not None, f"event {event_id} was not stored"
    return row


def common_fields(event: dict[str, Any]) -> dict[str, Any]:
    """The event without the fields that the server makes (id, createdAt, cursor)."""
    return {k: v for k, v in event.items() if k not in ("id", "createdAt", "cursor")}


async def check_server_fields(conn: asyncpg.Connection, event: dict[str, Any]) -> None:
    """id, createdAt and cursor as stored; metadata names the token and request."""
    assert uuid.UUID(event["id"]).version == 7
    row = await stored_event(conn, event["id"])
    assert parse_time(event["createdAt"]) == row["created_at"]
    assert row["pet_version"] == event["petVersion"]
    assert json.loads(row["metadata"]) == event["metadata"]
    assert isinstance(event["cursor"], str)
    assert event["cursor"]
    assert event["metadata"]["actor"] == API_TOKEN_NAME
    assert GENERATED_REQUEST_ID.match(event["metadata"]["requestId"])


async def test_arrival_with_a_pet_id_stores_pet_arrived_and_a_new_available_pet(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet_id = str(uuid.uuid4())
    payload = await store.record(
        "recordPetArrival",
        {
            "petId": pet_id,
            "name": " \tFluffy\n ",
            "species": "Cat",
            "price": "120.50",
            "metadata": {"source": "import", "batch": 7},
        },
    )
    event = payload["event"]
    await check_server_fields(conn, event)
    assert common_fields(event) == {
        "__typename": "PetArrived",
        "type": "PET_ARRIVED",
        "petId": pet_id,
        "petVersion": 1,
        "metadata": {
            "source": "import",
            "batch": 7,
            "actor": API_TOKEN_NAME,
            "requestId": event["metadata"]["requestId"],
        },
        "name": "Fluffy",
        "species": "Cat",
        "price": "120.50",
    }
    assert payload["pet"] == {
        "id": pet_id,
        "name": "Fluffy",
        "species": "Cat",
        "price": "120.50",
        "status": "AVAILABLE",
        "customerId": None,
        "motherId": None,
        "version": 1,
        "lastEventId": event["id"],
        "createdAt": event["createdAt"],
        "updatedAt": event["createdAt"],
    }
    assert payload["userErrors"] == []


async def test_arrival_without_a_pet_id_gets_a_uuid7_from_the_server(
    store: Store, conn: asyncpg.Connection
) -> None:
    payload = await store.arrive(name="Rex", species="Dog", price="10")
    pet_id = payload["pet"]["id"]
    assert uuid.UUID(pet_id).version == 7
    assert payload["event"]["petId"] == pet_id
    assert payload["event"]["price"] == "10.00"
    assert await conn.fetchval("select count(*) from pets where id = $1", uuid.UUID(pet_id)) == 1


async def test_birth_stores_pet_born_with_the_mother_and_the_given_species(
    store: Store, conn: asyncpg.Connection
) -> None:
    mother = (await store.arrive(name="Mom", species="Cat", price="200.00"))["pet"]
    pet_id = str(uuid.uuid4())
    payload = await store.record(
        "recordPetBirth",
        {
            "petId": pet_id,
            "motherId": mother["id"],
            "name": "Kit",
            "species": "Cat",
            "price": "35.00",
        },
    )
    event = payload["event"]
    await check_server_fields(conn, event)
    assert common_fields(event) == {
        "__typename": "PetBorn",
        "type": "PET_BORN",
        "petId": pet_id,
        "petVersion": 1,
        "metadata": {"actor": API_TOKEN_NAME, "requestId": event["metadata"]["requestId"]},
        "name": "Kit",
        "species": "Cat",
        "price": "35.00",
        "motherId": mother["id"],
    }
    assert payload["pet"] == {
        "id": pet_id,
        "name": "Kit",
        "species": "Cat",
        "price": "35.00",
        "status": "AVAILABLE",
        "customerId": None,
        "motherId": mother["id"],
        "version": 1,
        "lastEventId": event["id"],
        "createdAt": event["createdAt"],
        "updatedAt": event["createdAt"],
    }


async def test_birth_without_species_or_pet_id_takes_the_mothers_species_and_a_uuid7(
    store: Store,
) -> None:
    mother = (await store.arrive(name="Mom", species="Parrot", price="80.00"))["pet"]
    payload = await store.birth(mother["id"], name="Chick", price="20.00")
    assert payload["event"]["species"] == "Parrot"
    assert payload["pet"]["species"] == "Parrot"
    assert uuid.UUID(payload["pet"]["id"]).version == 7
    assert payload["event"]["petId"] == payload["pet"]["id"]


async def test_sale_stores_pet_sold_and_marks_the_pet_sold_to_the_customer(
    store: Store, conn: asyncpg.Connection
) -> None:
    arrived = await store.arrive(price="100.00")
    pet_id = arrived["pet"]["id"]
    customer = str(uuid.uuid4())
    payload = await store.record(
        "sellPet", {"petId": pet_id, "customerId": customer, "salePrice": "95.5"}
    )
    event = payload["event"]
    await check_server_fields(conn, event)
    assert common_fields(event) == {
        "__typename": "PetSold",
        "type": "PET_SOLD",
        "petId": pet_id,
        "petVersion": 2,
        "metadata": {"actor": API_TOKEN_NAME, "requestId": event["metadata"]["requestId"]},
        "customerId": customer,
        "salePrice": "95.50",
    }
    assert payload["pet"] == {
        **arrived["pet"],
        "status": "SOLD",
        "customerId": customer,
        "version": 2,
        "lastEventId": event["id"],
        "updatedAt": event["createdAt"],
    }


async def test_price_change_without_old_price_records_the_current_one(
    store: Store, conn: asyncpg.Connection
) -> None:
    arrived = await store.arrive(price="100.00")
    pet_id = arrived["pet"]["id"]
    payload = await store.change_price(pet_id, "80.00")
    event = payload["event"]
    await check_server_fields(conn, event)
    assert common_fields(event) == {
        "__typename": "PetPriceChange",
        "type": "PET_PRICE_CHANGE",
        "petId": pet_id,
        "petVersion": 2,
        "metadata": {"actor": API_TOKEN_NAME, "requestId": event["metadata"]["requestId"]},
        "oldPrice": "100.00",
        "newPrice": "80.00",
    }
    assert payload["pet"] == {
        **arrived["pet"],
        "price": "80.00",
        "version": 2,
        "lastEventId": event["id"],
        "updatedAt": event["createdAt"],
    }


async def test_price_change_with_the_right_old_price_is_stored(store: Store) -> None:
    pet_id = (await store.arrive(price="100.00"))["pet"]["id"]
    payload = await store.change_price(pet_id, "0", oldPrice="100")
    assert payload["event"]["oldPrice"] == "100.00"
    assert payload["event"]["newPrice"] == "0.00"
    assert payload["pet"]["price"] == "0.00"


async def test_loss_with_date_and_place_marks_the_pet_lost(
    store: Store, conn: asyncpg.Connection
) -> None:
    arrived = await store.arrive()
    pet_id = arrived["pet"]["id"]
    payload = await store.lose(pet_id, lostDate="2024-05-10", lastSeenLocation="the park")
    event = payload["event"]
    await check_server_fields(conn, event)
    assert common_fields(event) == {
        "__typename": "PetLost",
        "type": "PET_LOST",
        "petId": pet_id,
        "petVersion": 2,
        "metadata": {"actor": API_TOKEN_NAME, "requestId": event["metadata"]["requestId"]},
        "lostDate": "2024-05-10",
        "lastSeenLocation": "the park",
    }
    assert payload["pet"] == {
        **arrived["pet"],
        "status": "LOST",
        "version": 2,
        "lastEventId": event["id"],
        "updatedAt": event["createdAt"],
    }


async def test_finding_with_date_and_place_makes_the_pet_available_again(
    store: Store, conn: asyncpg.Connection
) -> None:
    arrived = await store.arrive()
    pet_id = arrived["pet"]["id"]
    await store.lose(pet_id, lostDate="2024-05-10")
    payload = await store.find(pet_id, foundDate="2024-05-10", foundLocation="under a bench")
    event = payload["event"]
    await check_server_fields(conn, event)
    assert common_fields(event) == {
        "__typename": "PetFoundAgain",
        "type": "PET_FOUND_AGAIN",
        "petId": pet_id,
        "petVersion": 3,
        "metadata": {"actor": API_TOKEN_NAME, "requestId": event["metadata"]["requestId"]},
        "foundDate": "2024-05-10",
        "foundLocation": "under a bench",
    }
    assert payload["pet"] == {
        **arrived["pet"],
        "status": "AVAILABLE",
        "version": 3,
        "lastEventId": event["id"],
        "updatedAt": event["createdAt"],
    }


async def test_lost_and_found_dates_default_to_the_databases_today(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet_id = (await store.arrive())["pet"]["id"]
    before: date = await conn.fetchval("select current_date")
    lost = await store.lose(pet_id)
    found = await store.find(pet_id)
    after: date = await conn.fetchval("select current_date")
    assert lost["event"]["lastSeenLocation"] is None
    assert found["event"]["foundLocation"] is None
    # Equal unless the test straddles midnight on the database server.
    assert date.fromisoformat(lost["event"]["lostDate"]) in {before, after}
    assert date.fromisoformat(found["event"]["foundDate"]) in {before, after}
    assert await conn.fetchval(
        "select lost_date from pet_lost_events where pet_id = $1", uuid.UUID(pet_id)
    ) == date.fromisoformat(lost["event"]["lostDate"])


async def test_client_metadata_cannot_override_actor_or_request_id(store: Store) -> None:
    payload = await store.arrive(metadata={"actor": "mallory", "requestId": "forged", "note": "x"})
    metadata = payload["event"]["metadata"]
    assert metadata["actor"] == API_TOKEN_NAME
    assert metadata["requestId"] != "forged"
    assert metadata["note"] == "x"


async def test_price_given_as_a_json_number_is_accepted_as_a_decimal(store: Store) -> None:
    # The Decimal scalar accepts numbers as well as strings.
    whole = await store.record("recordPetArrival", {"name": "Int", "species": "Cat", "price": 12})
    fraction = await store.record(
        "recordPetArrival", {"name": "Float", "species": "Cat", "price": 12.5}
    )
    assert whole["pet"]["price"] == "12.00"
    assert fraction["pet"]["price"] == "12.50"


async def test_payload_pet_is_what_a_later_query_reads(store: Store) -> None:
    pet = (await store.arrive(name="Tom", species="Cat", price="5.00"))["pet"]
    read = await store.gql.query(
        "query($id: UUID!) { pet(id: $id) { id name species price status customerId motherId "
        "version lastEventId createdAt updatedAt } }",
        {"id": pet["id"]},
    )
    assert read == {"data": {"pet": pet}}
