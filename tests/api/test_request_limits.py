"""Limits on what one request may ask: query depth, page sizes, aliases."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from graphql_petstore.settings import Settings
from tests.api.store import Store
from tests.conftest import GraphQLClient


def mother_chain(levels: int) -> str:
    """pet(id) { mother { mother { … { id } } } } with `levels` mothers."""
    return (
        "query($id: UUID!) { pet(id: $id) { " + "mother { " * levels + "id" + " }" * levels + " } }"
    )


async def post(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_query_deeper_than_the_limit_is_refused_before_running(
    client: httpx.AsyncClient, store: Store, settings: Settings
) -> None:
    pet_id = (await store.arrive())["pet"]["id"]
    # pet is at depth 0, the n-th mother at depth n, its id at n + 1.
    allowed = await post(client, mother_chain(settings.max_depth - 1), {"id": pet_id})
    assert allowed == {"data": {"pet": {"mother": None}}}

    refused = await post(client, mother_chain(settings.max_depth), {"id": pet_id})
    assert refused["data"] is None
    [error] = refused["errors"]
    assert "depth" in error["message"]
    assert str(settings.max_depth) in error["message"]


@pytest.mark.parametrize(
    "query",
    [
        "{ pets(first: 501) { edges { cursor } } }",
        "{ pets(first: -1) { edges { cursor } } }",
        "{ events(first: 501) { edges { cursor } } }",
        "{ pets { edges { node { history(first: 501) { edges { cursor } } } } } }",
    ],
)
async def test_a_page_size_outside_the_limits_is_a_bad_user_input(
    gql: GraphQLClient, store: Store, query: str, settings: Settings
) -> None:
    await store.arrive()
    result = await gql.query(query)
    assert result["data"] is None
    [error] = result["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert error["message"].startswith("first must be between 0 and ")
    assert str(settings.max_page_size) in error["message"]


async def test_the_largest_page_size_is_allowed(gql: GraphQLClient, store: Store) -> None:
    await store.arrive()
    result = await gql.query("{ pets(first: 500) { edges { cursor } } }")
    assert "errors" not in result, result
    assert len(result["data"]["pets"]["edges"]) == 1


async def test_too_many_aliases_are_refused(gql: GraphQLClient) -> None:
    query = (
        "{ " + " ".join(f"a{i}: pets(first: 1) {{ edges {{ cursor }} }}" for i in range(31)) + " }"
    )
    result = await gql.query(query)
    assert result["data"] is None
    [error] = result["errors"]
    assert "aliases" in error["message"]


async def test_an_overlong_document_is_refused(gql: GraphQLClient, settings: Settings) -> None:
    fields = " ".join("__typename" for _ in range(settings.max_query_tokens))
    result = await gql.query("{ " + fields + " }")
    assert result["data"] is None
    [error] = result["errors"]
    assert "token" in error["message"].lower()
