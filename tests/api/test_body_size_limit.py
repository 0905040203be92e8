"""A request body over settings.max_body_bytes is answered 413 before any of
it is used, whether Content-Length says so or the body only turns out so."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from graphql_petstore.settings import Settings
from tests.api.store import event_count, mutation_document
from tests.conftest import API_TOKEN, API_TOKEN_NAME

LIMIT = 10_000
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def settings() -> Settings:
    return Settings(api_tokens={API_TOKEN: API_TOKEN_NAME}, max_body_bytes=LIMIT)


def arrival_body(name: str, pad: str = "") -> dict[str, object]:
    arrival = {"name": name, "species": "Cat", "price": "1.00", "metadata": {"pad": pad}}
    return {"query": mutation_document("recordPetArrival"), "variables": {"input": arrival}}


def body_of_size(size: int) -> bytes:
    """An arrival whose JSON body is exactly `size` bytes."""
    empty = httpx.Request("POST", "/", json=arrival_body("Fluffy")).content
    body = httpx.Request("POST", "/", json=arrival_body("Fluffy", "p" * (size - len(empty))))
    assert len(body.content) == size
    return body.content


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.json() == {
        "errors": [
            {
                "message": f"request body is larger than {LIMIT} bytes",
                "extensions": {"code": "PAYLOAD_TOO_LARGE"},
            }
        ]
    }
    assert response.headers["x-request-id"]


async def test_a_body_over_the_limit_is_413_and_stores_nothing(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    response = await client.post("/graphql", json=arrival_body("x" * LIMIT), headers=AUTH)
    assert_too_large(response)
    assert await event_count(conn) == 0


async def test_a_streamed_body_without_length_over_the_limit_is_413(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        body = httpx.Request("POST", "/", json=arrival_body("y" * LIMIT)).content
        for start in range(0, len(body), 1_000):
            yield body[start : start + 1_000]

    response = await client.post(
        "/graphql",
        content=chunks(),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_too_large(response)
    assert await event_count(conn) == 0


async def test_a_body_of_exactly_the_limit_is_served_one_byte_more_is_not(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    over = await client.post("/graphql", content=body_of_size(LIMIT + 1), headers=headers)
    assert_too_large(over)
    assert await event_count(conn) == 0
    at_limit = await client.post("/graphql", content=body_of_size(LIMIT), headers=headers)
    assert at_limit.status_code == 200
    assert at_limit.json()["data"]["recordPetArrival"]["userErrors"] == []
    assert await event_count(conn) == 1
