"""GET /graphql in a browser opens GraphiQL with an example that works."""

from __future__ import annotations

import re

import httpx

from graphql_petstore.app import EXAMPLE_QUERY
from tests.api.store import Store
from tests.conftest import GraphQLClient


async def test_a_browser_gets_graphiql_with_the_example_query(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    assert f"const EXAMPLE_QUERY = `{EXAMPLE_QUERY}`" in response.text


async def test_the_example_query_runs(store: Store, gql: GraphQLClient) -> None:
    pet_id = (await store.arrive(name="Fluffy"))["pet"]["id"]
    await store.change_price(pet_id, "90.00")
    result = await gql.query(EXAMPLE_QUERY)
    assert "errors" not in result, result
    [edge] = result["data"]["pets"]["edges"]
    assert edge["node"]["name"] == "Fluffy"
    assert edge["node"]["history"]["nodes"][1]["newPrice"] == "90.00"


async def test_the_commented_example_mutation_runs(gql: GraphQLClient) -> None:
    commented = EXAMPLE_QUERY[EXAMPLE_QUERY.index("# mutation") :]
    mutation = re.sub(r"^# ?", "", commented, flags=re.MULTILINE)
    result = await gql.write(mutation)
    assert "errors" not in result, result
    payload = result["data"]["recordPetArrival"]
    assert payload["userErrors"] == []
    assert payload["pet"]["name"] == "Fluffy"
