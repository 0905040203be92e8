"""idempotencyKey: a retried command stores its event once."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from tests.api.store import Store, event_count, pet_row
from tests.conftest import GraphQLClient


@pytest.fixture
def store(gql: GraphQLClient) -> Store:
    return Store(gql)


async def test_a_retry_with_the_same_key_returns_the_first_event_and_stores_nothing(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet = (await store.arrive())["pet"]
    change = {"petId": pet["id"], "newPrice": "120.00", "idempotencyKey": "change-1"}
    first = await store.record("changePetPrice", change)
    await store.change_price(pet["id"], "130.00")  # the pet moves on

    retry = await store.record("changePetPrice", change)

    assert retry["event"] == first["event"]
    # The pet as the original event left it, not as it is now.
    assert retry["pet"] == first["pet"]
    assert retry["pet"]["price"] == "120.00"
    assert await event_count(conn) == 3


async def test_a_retried_arrival_without_pet_id_is_the_same_pet(
    store: Store, conn: asyncpg.Connection
) -> None:
    first = await store.arrive(idempotencyKey="arrival-rex", name="Rex")
    retry = await store.arrive(idempotencyKey="arrival-rex", name="Rex")
    assert retry["pet"]["id"] == first["pet"]["id"]
    assert retry["event"]["id"] == first["event"]["id"]
    assert await event_count(conn) == 1


async def test_the_same_key_with_another_input_is_refused(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet = (await store.arrive())["pet"]
    await store.change_price(pet["id"], "120.00", idempotencyKey="k")
    before = (await event_count(conn), await pet_row(conn, pet["id"]))

    payload = await store.attempt(
        "changePetPrice", {"petId": pet["id"], "newPrice": "121.00", "idempotencyKey": "k"}
    )

    assert payload["event"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("IDEMPOTENCY_KEY_REUSED", ["input", "idempotencyKey"])
    ]
    assert (await event_count(conn), await pet_row(conn, pet["id"])) == before


async def test_a_refused_attempt_does_not_use_up_its_key(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet = (await store.arrive())["pet"]
    await store.lose(pet["id"])
    sale = {
        "petId": pet["id"],
        "customerId": str(uuid.uuid4()),
        "salePrice": "90.00",
        "idempotencyKey": "sale-1",
    }
    refused = await store.attempt("sellPet", sale)
    assert [e["code"] for e in refused["userErrors"]] == ["PET_NOT_AVAILABLE"]

    await store.find(pet["id"])
    sold = await store.record("sellPet", sale)
    assert sold["pet"]["status"] == "SOLD"
    assert await event_count(conn) == 4


async def test_twenty_parallel_identical_requests_store_one_event_and_all_return_it(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet = (await store.arrive())["pet"]
    change = {"petId": pet["id"], "newPrice": "150.00", "idempotencyKey": "burst"}
    payloads = await asyncio.gather(*(store.record("changePetPrice", change) for _ in range(20)))
    assert len({p["event"]["id"] for p in payloads}) == 1
    assert {p["pet"]["version"] for p in payloads} == {2}
    assert await event_count(conn) == 2
    assert await conn.fetchval("select count(*) from idempotency_keys") == 1


@pytest.mark.parametrize("key", ["", "x" * 201])
async def test_an_empty_or_overlong_key_fails_validation(store: Store, key: str) -> None:
    payload = await store.attempt(
        "recordPetArrival",
        {"name": "A", "species": "Cat", "price": "1.00", "idempotencyKey": key},
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("VALIDATION_FAILED", ["input", "idempotencyKey"])
    ]
