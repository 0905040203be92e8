"""Records events through the GraphQL API, as a client would, for the API tests.

Every mutation asks for the same payload (PAYLOAD): the event with the fields
of its concrete type, the pet as the event left it, and the userErrors.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from tests.conftest import GraphQLClient

# The fields of each of the six event types, for a selection on PetEvent.
CONCRETE_EVENT_FIELDS = """
    ... on PetArrived { name species price }
    ... on PetBorn { name species price motherId }
    ... on PetSold { customerId salePrice }
    ... on PetPriceChange { oldPrice newPrice }
    ... on PetLost { lostDate lastSeenLocation }
    ... on PetFoundAgain { foundDate foundLocation }
"""

PAYLOAD = (
    """
fragment Payload on PetEventPayload {
  event {
    __typename id type petId petVersion createdAt metadata cursor
"""
    + CONCRETE_EVENT_FIELDS
    + """
  }
  pet {
    id name species price status customerId motherId version lastEventId createdAt updatedAt
  }
  userErrors { code message field }
}
"""
)

SETTLE_TIMEOUT = 10.0

# GraphQL field -> its input type.
MUTATIONS = {
    "recordPetArrival": "RecordPetArrivalInput",
    "recordPetBirth": "RecordPetBirthInput",
    "sellPet": "SellPetInput",
    "changePetPrice": "ChangePetPriceInput",
    "reportPetLost": "ReportPetLostInput",
    "reportPetFound": "ReportPetFoundInput",
}


def mutation_document(field: str) -> str:
    return (
        f"mutation Write($input: {MUTATIONS[field]}!) "
        f"{{ {field}(input: $input) {{ ...Payload }} }}\n{PAYLOAD}"
    )


class Store:
    """The six mutations through the API, with the test token."""

    def __init__(self, gql: GraphQLClient) -> None:
        self.gql = gql

    async def attempt(self, field: str, input: dict[str, Any]) -> dict[str, Any]:
        """The mutation's payload, whatever its userErrors."""
        result = await self.gql.write(mutation_document(field), {"input": input})
        assert "errors" not in result, result
        payload: dict[str, Any] = result["data"][field]
        return payload

    async def record(self, field: str, input: dict[str, Any]) -> dict[str, Any]:
        """The payload of a mutation that must succeed."""
        payload = await self.attempt(field, input)
        assert payload["userErrors"] == [], payload
        return payload

    async def arrive(
        self, name: str = "Fluffy", species: str = "Cat", price: str = "100.00", **more: Any
    ) -> dict[str, Any]:
        return await self.record(
            "recordPetArrival", {"name": name, "species": species, "price": price, **more}
        )

    async def birth(
        self, mother_id: str, name: str = "Kitten", price: str = "50.00", **more: Any
    ) -> dict[str, Any]:
        return await self.record(
            "recordPetBirth", {"motherId": mother_id, "name": name, "price": price, **more}
        )

    async def sell(
        self, pet_id: str, customer_id: str | None = None, sale_price: str = "99.00"
    ) -> dict[str, Any]:
        customer = customer_id or str(uuid.uuid4())
        return await self.record(
            "sellPet", {"petId": pet_id, "customerId": customer, "salePrice": sale_price}
        )

    async def change_price(self, pet_id: str, new_price: str, **more: Any) -> dict[str, Any]:
        return await self.record("changePetPrice", {"petId": pet_id, "newPrice": new_price, **more})

    async def lose(self, pet_id: str, **more: Any) -> dict[str, Any]:
        return await self.record("reportPetLost", {"petId": pet_id, **more})

    async def find(self, pet_id: str, **more: Any) -> dict[str, Any]:
        return await self.record("reportPetFound", {"petId": pet_id, **more})


async def event_count(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("select count(*) from events")
    return count


async def pet_row(conn: asyncpg.Connection, pet_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("select * from pets where id = $1", uuid.UUID(pet_id))
    return None if row is None else dict(row)


async def settle(conn: asyncpg.Connection) -> None:
    """Waits until every stored event is below the commit-safe horizon, so
    that events(…) shows them all. Another session on a shared server (a
    CREATE DATABASE of a parallel test run) can hold the horizon back briefly."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not await conn.fetchval(
        "select coalesce(max(tx_id) < pg_snapshot_xmin(pg_current_snapshot()), true) from events"
    ):
        assert time.monotonic() < deadline, "the event stream horizon did not advance"
        await asyncio.sleep(0.05)


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def ids(edges: list[dict[str, Any]]) -> list[str]:
    return [edge["node"]["id"] for edge in edges]
