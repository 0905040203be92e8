"""expectedVersion: optimistic concurrency, checked under the pet's row lock."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from tests.api.store import Store, event_count, pet_row
from tests.conftest import GraphQLClient

CONFLICT = """
mutation($input: ChangePetPriceInput!) {
  changePetPrice(input: $input) {
    event { id petVersion }
    pet { version price }
    userErrors { code message field actualVersion }
  }
}
"""


@pytest.fixture
def store(gql: GraphQLClient) -> Store:
    return Store(gql)


async def _change(gql: GraphQLClient, pet_id: str, price: str, expected: int) -> dict[str, Any]:
    result = await gql.write(
        CONFLICT, {"input": {"petId": pet_id, "newPrice": price, "expectedVersion": expected}}
    )
    assert "errors" not in result, result
    payload: dict[str, Any] = result["data"]["changePetPrice"]
    return payload


async def test_an_event_on_the_expected_version_is_stored(store: Store, gql: GraphQLClient) -> None:
    pet = (await store.arrive(expectedVersion=0))["pet"]
    payload = await _change(gql, pet["id"], "120.00", expected=1)
    assert payload["userErrors"] == []
    assert payload["pet"] == {"version": 2, "price": "120.00"}


async def test_a_stale_expected_version_is_a_conflict_that_names_the_actual_version(
    store: Store, gql: GraphQLClient, conn: asyncpg.Connection
) -> None:
    pet = (await store.arrive())["pet"]
    await store.change_price(pet["id"], "110.00")
    before = (await event_count(conn), await pet_row(conn, pet["id"]))

    payload = await _change(gql, pet["id"], "120.00", expected=1)

    assert payload["event"] is None
    assert payload["pet"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "VERSION_CONFLICT"
    assert error["actualVersion"] == 2
    assert error["field"] == ["input", "expectedVersion"]
    assert (await event_count(conn), await pet_row(conn, pet["id"])) == before


async def test_expected_version_zero_refuses_a_pet_that_exists(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet = (await store.arrive())["pet"]
    payload = await store.attempt(
        "changePetPrice", {"petId": pet["id"], "newPrice": "1.00", "expectedVersion": 0}
    )
    assert [e["code"] for e in payload["userErrors"]] == ["VERSION_CONFLICT"]
    assert await event_count(conn) == 1


async def test_a_negative_expected_version_fails_validation(store: Store) -> None:
    payload = await store.attempt(
        "sellPet",
        {
            "petId": str(uuid.uuid4()),
            "customerId": str(uuid.uuid4()),
            "salePrice": "1.00",
            "expectedVersion": -1,
        },
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("VALIDATION_FAILED", ["input", "expectedVersion"])
    ]


async def test_of_twenty_parallel_changes_on_one_expected_version_exactly_one_succeeds(
    store: Store, gql: GraphQLClient, conn: asyncpg.Connection
) -> None:
    pet = (await store.arrive())["pet"]
    payloads = await asyncio.gather(
        *(_change(gql, pet["id"], f"{100 + n}.00", expected=1) for n in range(20))
    )
    stored = [p for p in payloads if not p["userErrors"]]
    conflicts = [p["userErrors"][0] for p in payloads if p["userErrors"]]
    assert len(stored) == 1
    assert len(conflicts) == 19
    assert {(e["code"], e["actualVersion"]) for e in conflicts} == {("VERSION_CONFLICT", 2)}
    assert await event_count(conn) == 2
    row = await pet_row(conn, pet["id"])
    assert row is not None
    assert row["version"] == 2
    assert str(row["current_price"]) == stored[0]["pet"]["price"]


async def test_a_hand_written_insert_is_held_to_its_expected_version(
    conn: asyncpg.Connection,
) -> None:
    pet_id = uuid.uuid4()
    await conn.execute(
        "insert into pet_arrived_events (pet_id, name, species, price, expected_version)"
        " values ($1, 'Rex', 'Dog', 10, 0)",
        pet_id,
    )
    with pytest.raises(asyncpg.PostgresError) as raised:
        await conn.execute(
            "insert into pet_sold_events (pet_id, customer_id, sale_price, expected_version)"
            " values ($1, $2, 10, 5)",
            pet_id,
            uuid.uuid4(),
        )
    assert raised.value.sqlstate == "PS011"
    assert str(raised.value).startswith("VERSION_CONFLICT:")
    assert raised.value.detail == "1"
    assert await conn.fetchval("select version from pets where id = $1", pet_id) == 1


async def test_the_database_refuses_a_negative_expected_version(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.PostgresError) as raised:
        await conn.execute(
            "insert into pet_arrived_events (pet_id, name, species, price, expected_version)"
            " values ($1, 'Rex', 'Dog', 10, -1)",
            uuid.uuid4(),
        )
    assert raised.value.sqlstate == "PS000"
    assert str(raised.value).startswith("VALIDATION_FAILED: expected_version must be 0 or more")
    assert await conn.fetchval("select count(*) from events") == 0
