"""Every response carries X-Request-ID: the client's when it sent a sane one,
else the server's own; a mutation stores the server's own in the event's
metadata (Petstore-Request-ID), never the client's."""

from __future__ import annotations

import re

import httpx

from tests.api.store import mutation_document
from tests.conftest import API_TOKEN

GENERATED = re.compile(r"^[0-9a-f]{32}$")
ARRIVAL = {"name": "Fluffy", "species": "Cat", "price": "1.00"}


async def arrive(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    response = await client.post(
        "/graphql",
        json={"query": mutation_document("recordPetArrival"), "variables": {"input": ARRIVAL}},
        headers={"Authorization": f"Bearer {API_TOKEN}", **headers},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["recordPetArrival"]["userErrors"] == []
    return response


def stored_request_id(response: httpx.Response) -> str:
    request_id: str = response.json()["data"]["recordPetArrival"]["event"]["metadata"]["requestId"]
    return request_id


async def test_the_clients_request_id_is_echoed_but_the_audit_id_is_the_servers(
    client: httpx.AsyncClient,
) -> None:
    response = await arrive(client, {"X-Request-ID": "checkout-42.a:b_c"})
    assert response.headers["x-request-id"] == "checkout-42.a:b_c"
    server_id = response.headers["petstore-request-id"]
    assert GENERATED.match(server_id)
    assert stored_request_id(response) == server_id


async def test_without_a_request_id_one_is_generated_returned_and_stored(
    client: httpx.AsyncClient,
) -> None:
    first = await arrive(client, {})
    second = await arrive(client, {})
    generated = first.headers["x-request-id"]
    assert GENERATED.match(generated)
    assert stored_request_id(first) == generated
    assert second.headers["x-request-id"] != generated


async def test_an_unacceptable_request_id_is_replaced_by_a_generated_one(
    client: httpx.AsyncClient,
) -> None:
    for bad in ("has spaces", "x" * 129, "<script>"):
        response = await arrive(client, {"X-Request-ID": bad})
        assert GENERATED.match(response.headers["x-request-id"]), bad
        assert stored_request_id(response) == response.headers["x-request-id"]


async def test_reads_and_health_checks_carry_a_request_id(client: httpx.AsyncClient) -> None:
    read = await client.post("/graphql", json={"query": "{ __typename }"})
    assert GENERATED.match(read.headers["x-request-id"])
    health = await client.get("/healthz", headers={"X-Request-ID": "probe-1"})
    assert health.headers["x-request-id"] == "probe-1"
