"""Malformed requests get a clear GraphQL error or a 4xx, never a 500 or a
masked internal error, and store nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.store import Store, event_count, mutation_document
from tests.conftest import API_TOKEN

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
JSON = {"Content-Type": "application/json"}
ARRIVAL = {"name": "Fluffy", "species": "Cat", "price": "1.00"}


def graphql_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The errors of a request refused as the client's fault, not masked."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None, body
    errors: list[dict[str, Any]] = body["errors"]
    assert errors, body
    for error in errors:
        assert error["message"] != "internal error", body
        assert error.get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR", body
    return errors


async def arrive_with(client: httpx.AsyncClient, input: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post(
        "/graphql",
        json={"query": mutation_document("recordPetArrival"), "variables": {"input": input}},
        headers=AUTH,
    )
    return graphql_errors(response)


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# --- values of the wrong type --------------------------------------------------


@pytest.mark.parametrize(
    ("input", "mentions"),
    [
        ({**ARRIVAL, "name": 5}, "name"),
        ({**ARRIVAL, "name": None}, "name"),
        ({**ARRIVAL, "price": True}, "price"),
        ({**ARRIVAL, "price": "twelve"}, "price"),
        ({**ARRIVAL, "price": [1]}, "price"),
        ({**ARRIVAL, "petId": "not-a-uuid"}, "petId"),
        ({**ARRIVAL, "petId": 5}, "petId"),
        ({**ARRIVAL, "colour": "red"}, "colour"),
        ({"name": "Fluffy", "species": "Cat"}, "price"),
    ],
)
async def test_a_variable_of_the_wrong_type_is_a_clear_error(
    raw_client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    input: dict[str, Any],
    mentions: str,
) -> None:
    [error] = await arrive_with(raw_client, input)
    assert mentions in error["message"]
    assert await event_count(conn) == 0


@pytest.mark.parametrize(
    ("literal", "mentions"),
    [
        ('{name: 5, species: "Cat", price: "1"}', "String"),
        ('{name: "F", species: "Cat", price: "1", petId: "not-a-uuid"}', "UUID"),
        ('{name: "F", species: "Cat", price: "1", petId: 7}', "UUID"),
        ('{name: "F", species: "Cat", price: "x"}', "Decimal"),
    ],
)
async def test_a_literal_of_the_wrong_type_is_a_clear_error(
    raw_client: httpx.AsyncClient, conn: asyncpg.Connection, literal: str, mentions: str
) -> None:
    response = await raw_client.post(
        "/graphql",
        json={"query": f"mutation {{ recordPetArrival(input: {literal}) {{ pet {{ id }} }} }}"},
        headers=AUTH,
    )
    errors = graphql_errors(response)
    assert any(mentions in error["message"] for error in errors), errors
    assert await event_count(conn) == 0


async def test_dates_that_are_not_dates_are_a_clear_error(
    raw_client: httpx.AsyncClient, store: Store, conn: asyncpg.Connection
) -> None:
    pet_id = (await store.arrive())["pet"]["id"]
    before = await event_count(conn)
    for bad in ("2024-13-01", "yesterday", "2024-01-01T10:00:00Z"):
        response = await raw_client.post(
            "/graphql",
            json={
                "query": mutation_document("reportPetLost"),
                "variables": {"input": {"petId": pet_id, "lostDate": bad}},
            },
            headers=AUTH,
        )
        [error] = graphql_errors(response)
        assert "lostDate" in error["message"]
    assert await event_count(conn) == before


# --- cursors -------------------------------------------------------------------


PAGED = {
    "pets": "query($after: String) { pets(after: $after) { edges { cursor } } }",
    "events": "query($after: String) { events(after: $after) { edges { cursor } } }",
    "history": "query($after: String) { pets(first: 1) { edges { node { "
    "history(after: $after) { edges { cursor } } } } } }",
}


async def page_after(client: httpx.AsyncClient, listing: str, after: str) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": PAGED[listing], "variables": {"after": after}}
    )


@pytest.mark.parametrize(
    ("listing", "after"),
    [
        ("pets", "xyz"),
        ("events", "xyz"),
        ("history", "xyz"),
        ("pets", "0"),
        ("pets", ""),
        ("history", "0"),
        ("events", cursor("pet:" + "0" * 32)),
        ("pets", cursor("stream:1.1")),
        ("pets", cursor("pet:not-a-uuid")),
        ("events", cursor("stream:1")),
        ("events", cursor("stream:-1.-1")),
        ("history", cursor("version:-1")),
        ("history", cursor("version:")),
    ],
)
async def test_a_garbage_cursor_is_a_bad_user_input(
    raw_client: httpx.AsyncClient, store: Store, listing: str, after: str
) -> None:
    await store.arrive()
    [error] = graphql_errors(await page_after(raw_client, listing, after))
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "after" in error["message"]


@pytest.mark.parametrize(
    ("listing", "after"),
    [
        ("events", cursor("stream:" + "9" * 30 + ".1")),
        ("events", cursor("stream:1." + "9" * 30)),
        ("history", cursor("version:" + "9" * 12)),
    ],
    ids=["stream-tx-id", "stream-seq", "history-version"],
)
async def test_a_cursor_with_numbers_out_of_range_is_a_bad_user_input(
    raw_client: httpx.AsyncClient, store: Store, listing: str, after: str
) -> None:
    await store.arrive()
    [error] = graphql_errors(await page_after(raw_client, listing, after))
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}


# --- documents and bodies ------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ("{ pets { edges { node { id } }", "Syntax Error"),
        ("{ pets { edges { node { nickname } } } }", "nickname"),
        ("{ pet { id } }", "id"),
        ("mutation { recordPetArrival { pet { id } } }", "input"),
        ("subscription { nothing }", "subscription"),
    ],
)
async def test_an_invalid_document_is_a_clear_error(
    raw_client: httpx.AsyncClient, query: str, mentions: str
) -> None:
    response = await raw_client.post("/graphql", json={"query": query}, headers=AUTH)
    assert response.status_code in (200, 400), response.text
    errors = response.json()["errors"]
    assert any(mentions.lower() in e["message"].lower() for e in errors), errors
    assert all(e["message"] != "internal error" for e in errors)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"{not json", JSON),
        (b"", JSON),
        (b"[]", JSON),
        (b"{}", JSON),
        (json.dumps({"query": 5}).encode(), JSON),
        (json.dumps({"query": "{ __typename }", "variables": [1]}).encode(), JSON),
        (json.dumps([{"query": "{ __typename }"}]).encode(), JSON),
        (json.dumps({"query": "{ __typename }"}).encode(), {"Content-Type": "text/plain"}),
    ],
    ids=[
        "invalid-json",
        "empty",
        "json-array",
        "no-query",
        "query-not-a-string",
        "variables-not-an-object",
        "batch",
        "text-plain",
    ],
)
async def test_an_unusable_body_is_a_4xx(
    raw_client: httpx.AsyncClient, body: bytes, headers: dict[str, str]
) -> None:
    response = await raw_client.post("/graphql", content=body, headers=headers)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)


@pytest.mark.parametrize("body", [b'"just a string"', b"5", b"true", b"null"])
async def test_a_json_body_that_is_not_an_object_is_a_4xx(
    raw_client: httpx.AsyncClient, body: bytes
) -> None:
    response = await raw_client.post("/graphql", content=body, headers=JSON)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)


async def test_a_deeply_nested_json_body_is_a_4xx(
    raw_client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    depth = 100_000
    body = b'{"query": "{ __typename }", "variables": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
    response = await raw_client.post("/graphql", content=body, headers={**JSON, **AUTH})
    assert 400 <= response.status_code < 500, response.status_code
    assert await event_count(conn) == 0


async def test_a_ten_megabyte_name_is_refused_and_stores_nothing(
    raw_client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    response = await raw_client.post(
        "/graphql",
        json={
            "query": mutation_document("recordPetArrival"),
            "variables": {"input": {**ARRIVAL, "name": "x" * 10_000_000}},
        },
        headers=AUTH,
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"] == {"code": "PAYLOAD_TOO_LARGE"}
    assert await event_count(conn) == 0


async def test_mutations_via_get_are_refused_and_queries_answered(
    raw_client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    # Queries by GET are what automatic persisted queries send (short,
    # cacheable URLs); a mutation never runs by GET.
    read = await raw_client.get(
        "/graphql",
        params={"query": "{ pets { edges { cursor } } }"},
        headers={"Accept": "application/json"},
    )
    assert read.status_code == 200
    assert read.json() == {"data": {"pets": {"edges": []}}}
    write = await raw_client.get(
        "/graphql",
        params={
            "query": 'mutation { recordPetArrival(input: {name: "F", species: "C", price: "1"}) '
            "{ pet { id } } }"
        },
        headers=AUTH,
    )
    assert 400 <= write.status_code < 500
    assert "GET" in write.text
    assert await event_count(conn) == 0


async def test_other_methods_are_not_allowed(raw_client: httpx.AsyncClient) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = await raw_client.request(method, "/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 405, method
