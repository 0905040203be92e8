"""Writes need Authorization: Bearer <a known token>; reads need nothing."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.store import MUTATIONS, Store, event_count, mutation_document, pet_row
from tests.conftest import API_TOKEN, API_TOKEN_NAME


def inputs(pet_id: str, lost_id: str) -> dict[str, dict[str, Any]]:
    """An input for each mutation that would succeed with the right token."""
    return {
        "recordPetArrival": {"name": "New", "species": "Cat", "price": "1.00"},
        "recordPetBirth": {"motherId": pet_id, "name": "Kit", "price": "1.00"},
        "sellPet": {"petId": pet_id, "customerId": str(uuid.uuid4()), "salePrice": "1.00"},
        "changePetPrice": {"petId": pet_id, "newPrice": "2.00"},
        "reportPetLost": {"petId": pet_id},
        "reportPetFound": {"petId": lost_id},
    }


@pytest.fixture
async def pets(store: Store) -> tuple[str, str]:
    available = (await store.arrive(name="Here"))["pet"]["id"]
    lost = (await store.arrive(name="Gone"))["pet"]["id"]
    await store.lose(lost)
    return available, lost


async def post_mutation(
    client: httpx.AsyncClient, field: str, input: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": mutation_document(field), "variables": {"input": input}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def assert_refused(
    client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    pets: tuple[str, str],
    headers: dict[str, str],
    code: str,
) -> None:
    for field in MUTATIONS:
        before = (await event_count(conn), [await pet_row(conn, p) for p in pets])
        body = await post_mutation(client, field, inputs(*pets)[field], headers)
        assert body["data"] is None, (field, body)
        [error] = body["errors"]
        assert error["path"] == [field]
        assert error["extensions"] == {"code": code}, (field, body)
        after = (await event_count(conn), [await pet_row(conn, p) for p in pets])
        assert after == before, f"{field} stored something without authorization"


async def test_a_write_without_authorization_is_unauthenticated(
    client: httpx.AsyncClient, conn: asyncpg.Connection, pets: tuple[str, str]
) -> None:
    await assert_refused(client, conn, pets, {}, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    "header",
    ["Token x", "Bearer ", "Bearer", f"Basic {API_TOKEN}", API_TOKEN, "Bearer    "],
)
async def test_a_malformed_authorization_header_is_unauthenticated(
    client: httpx.AsyncClient, conn: asyncpg.Connection, pets: tuple[str, str], header: str
) -> None:
    await assert_refused(client, conn, pets, {"Authorization": header}, "UNAUTHENTICATED")


@pytest.mark.parametrize("token", ["wrong-token", API_TOKEN + "x", API_TOKEN[:-1], API_TOKEN_NAME])
async def test_a_write_with_an_unknown_token_is_forbidden(
    client: httpx.AsyncClient, conn: asyncpg.Connection, pets: tuple[str, str], token: str
) -> None:
    await assert_refused(client, conn, pets, {"Authorization": f"Bearer {token}"}, "FORBIDDEN")


async def test_every_mutation_works_with_the_right_token(
    client: httpx.AsyncClient, conn: asyncpg.Connection, pets: tuple[str, str]
) -> None:
    available, _ = pets
    sequence: list[tuple[str, dict[str, Any]]] = [
        ("recordPetArrival", {"name": "New", "species": "Cat", "price": "1.00"}),
        ("recordPetBirth", {"motherId": available, "name": "Kit", "price": "1.00"}),
        ("changePetPrice", {"petId": available, "newPrice": "2.00"}),
        ("reportPetLost", {"petId": available}),
        ("reportPetFound", {"petId": available}),
        ("sellPet", {"petId": available, "customerId": str(uuid.uuid4()), "salePrice": "2"}),
    ]
    assert {field for field, _ in sequence} == set(MUTATIONS)
    before = await event_count(conn)
    for field, input in sequence:
        body = await post_mutation(client, field, input, {"Authorization": f"Bearer {API_TOKEN}"})
        assert "errors" not in body, body
        payload = body["data"][field]
        assert payload["userErrors"] == [], (field, payload)
        assert payload["event"]["metadata"]["actor"] == API_TOKEN_NAME
    assert await event_count(conn) == before + len(sequence)


async def test_the_bearer_scheme_is_case_insensitive(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    arrival = {"name": "New", "species": "Cat", "price": "1.00"}
    for scheme in ("bearer", "BEARER"):
        body = await post_mutation(
            client, "recordPetArrival", arrival, {"Authorization": f"{scheme} {API_TOKEN}"}
        )
        assert body["data"]["recordPetArrival"]["userErrors"] == [], body
    assert await event_count(conn) == 2


async def test_reads_need_no_token_and_ignore_a_wrong_one(
    client: httpx.AsyncClient, pets: tuple[str, str]
) -> None:
    query = {"query": "{ pets { edges { node { id } } } events { edges { cursor } } }"}
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Token x"}):
        response = await client.post("/graphql", json=query, headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert "errors" not in body, body
        assert len(body["data"]["pets"]["edges"]) == 2
