"""GET /graphql in a browser opens GraphiQL with an example that works."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from starlette.applications import Starlette

from graphql_petstore.graphiql import ASSETS_PATH, asset_names, page
from graphql_petstore.graphql_view import EXAMPLE_QUERY
from graphql_petstore.settings import Settings
from tests.api.store import Store
from tests.conftest import GraphQLClient


async def test_a_browser_gets_graphiql_with_the_example_query(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    assert f"const EXAMPLE_QUERY = {json.dumps(EXAMPLE_QUERY)};" in response.text


async def test_the_page_loads_every_asset_from_this_server(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers={"Accept": "text/html"})).text
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert loaded, page
    assert all(url.startswith(f"{ASSETS_PATH}/") or url.startswith("data:") for url in loaded)
    assert "://" not in re.sub(r"<script>.*?</script>", "", page, flags=re.DOTALL)
    for url in loaded:
        if url.startswith("data:"):
            continue
        response = await client.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, url
        assert "immutable" in response.headers["cache-control"]
        assert len(response.content) > 100


async def test_every_asset_and_its_licence_is_installed(client: httpx.AsyncClient) -> None:
    names = asset_names()
    assert any(name.endswith(".LICENSE.txt") for name in names)
    for name in names:
        response = await client.get(f"{ASSETS_PATH}/{name}")
        assert response.status_code == 200, name
    assert (await client.get(f"{ASSETS_PATH}/../bundles.json")).status_code == 404
    assert (await client.get(f"{ASSETS_PATH}/nothing.js")).status_code == 404


@pytest.mark.parametrize("settings", [Settings(graphiql=False)])
async def test_graphiql_can_be_switched_off(app: Starlette, client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert (await client.get(f"{ASSETS_PATH}/{asset_names()[0]}")).status_code == 404
    query = await client.post("/graphql", json={"query": "{ __typename }"})
    assert query.json() == {"data": {"__typename": "Query"}}


def test_the_example_cannot_end_the_page_script() -> None:
    html = page("# </script><script>alert(1)</script>")
    assert "</script><script>alert" not in html


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
