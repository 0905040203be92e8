"""A mix of every mutation, the rule violations and the queries, as several
concurrent clients send it: each operation either answers as it should or
is counted as a failure (with what went wrong)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.api.store import mutation_document
from tests.conftest import GraphQLClient

READS = {
    "pet": "query($id: UUID!) { pet(id: $id) { id name price status version "
    "mother { id } offspring { id } history(first: 10) { nodes { type } } } }",
    "pets": "query { pets(first: 20, filter: {status: [AVAILABLE, SOLD, LOST]}) "
    "{ edges { node { id status } } pageInfo { hasNextPage endCursor } } }",
    "events": 'query { events(first: 20, after: "0") { edges { cursor node { id type } } } }',
    "event": "query($id: UUID!) { event(id: $id) { id type petId } }",
    "asOf": 'query($id: UUID!) { pet(id: $id, asOf: "2100-01-01T00:00:00Z") { id version } }',
}


@dataclass
class Outcome:
    operations: int = 0
    failures: list[str] = field(default_factory=list)


class Client:
    def __init__(self, gql: GraphQLClient, outcome: Outcome) -> None:
        self.gql = gql
        self.outcome = outcome

    async def _send(self, document: str, variables: dict[str, Any], write: bool) -> Any:
        self.outcome.operations += 1
        try:
            body = await (
                self.gql.write(document, variables)
                if write
                else self.gql.query(document, variables)
            )
        except AssertionError as exc:  # not a 200
            self.outcome.failures.append(str(exc)[:300])
            return None
        if "errors" in body:
            self.outcome.failures.append(str(body["errors"])[:300])
            return None
        return body["data"]

    async def write(self, field: str, input: dict[str, Any], refused: str | None = None) -> Any:
        """The payload; `refused`: the userError code that the rules must give."""
        data = await self._send(mutation_document(field), {"input": input}, write=True)
        if data is None:
            return None
        payload = data[field]
        codes = [error["code"] for error in payload["userErrors"]]
        if codes != ([refused] if refused else []):
            self.outcome.failures.append(f"{field}: expected {refused}, got {codes}")
            return None
        return payload

    async def read(self, name: str, **variables: Any) -> Any:
        return await self._send(READS[name], variables, write=False)


async def scenario(client: Client, number: int) -> None:
    """25 operations on pets of this client's own."""
    arrival = await client.write(
        "recordPetArrival", {"name": f"Mom {number}", "species": "Cat", "price": "100.00"}
    )
    if arrival is None:
        return
    mom = arrival["pet"]["id"]
    await client.write(
        "recordPetArrival",
        {"petId": mom, "name": "Again", "species": "Cat", "price": "1.00"},
        refused="PET_ALREADY_EXISTS",
    )
    birth = await client.write("recordPetBirth", {"motherId": mom, "name": "Kit", "price": "5.00"})
    if birth is None:
        return
    kit = birth["pet"]["id"]
    await client.write(
        "recordPetBirth",
        {"motherId": str(uuid.uuid4()), "name": "Orphan", "price": "1.00"},
        refused="MOTHER_NOT_FOUND",
    )
    await client.write("changePetPrice", {"petId": kit, "newPrice": "6.00"})
    await client.write(
        "changePetPrice",
        {"petId": kit, "newPrice": "7.00", "oldPrice": "1.00"},
        refused="OLD_PRICE_MISMATCH",
    )
    await client.write(
        "changePetPrice",
        {"petId": kit, "newPrice": "8.00", "expectedVersion": 1},
        refused="VERSION_CONFLICT",
    )
    await client.write("reportPetFound", {"petId": kit}, refused="PET_NOT_LOST")
    await client.write("reportPetLost", {"petId": kit, "lastSeenLocation": "the park"})
    await client.write(
        "sellPet",
        {"petId": kit, "customerId": str(uuid.uuid4()), "salePrice": "5.00"},
        refused="PET_NOT_AVAILABLE",
    )
    await client.write("reportPetFound", {"petId": kit, "foundLocation": "the shed"})
    key = f"sale-{number}"
    sale = {
        "petId": mom,
        "customerId": str(uuid.uuid4()),
        "salePrice": "90.00",
        "idempotencyKey": key,
    }
    sold = await client.write("sellPet", sale)
    replayed = await client.write("sellPet", sale)
    if sold is not None and replayed is not None and sold["event"] != replayed["event"]:
        client.outcome.failures.append("an idempotent retry stored another event")
    await client.write("sellPet", {**sale, "salePrice": "1.00"}, refused="IDEMPOTENCY_KEY_REUSED")
    await client.write(
        "changePetPrice", {"petId": mom, "newPrice": "1.00"}, refused="PET_ALREADY_SOLD"
    )
    await client.write(
        "recordPetBirth",
        {"motherId": mom, "name": "Late", "price": "1.00"},
        refused="MOTHER_NOT_IN_STORE",
    )
    for pet in (mom, kit):
        await client.read("pet", id=pet)
        await client.read("asOf", id=pet)
    await client.read("pets")
    await client.read("events")
    if sold is not None:
        await client.read("event", id=sold["event"]["id"])
    await client.read("pets")
    await client.read("pet", id=str(uuid.uuid4()))


async def run(gql: GraphQLClient, clients: int = 8) -> Outcome:
    outcome = Outcome()
    await asyncio.gather(*(scenario(Client(gql, outcome), n) for n in range(clients)))
    return outcome
