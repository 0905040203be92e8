"""Automatic persisted queries (POST and GET) and the trusted-documents mode,
in front of the compiled path: a persisted query is answered by the same plan,
in the same bytes, as the same document sent as text."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graphql_petstore.settings import Settings
from tests.api.store import Store
from tests.conftest import API_TOKEN, API_TOKEN_NAME

PETS = "query Pets { pets(first: 5) { edges { node { id name price } } } }"
ARRIVE = (
    'mutation { recordPetArrival(input: {name: "Apq", species: "Cat", price: "5.00"}) '
    "{ pet { name } userErrors { code } } }"
)
NOT_FOUND = {
    "errors": [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}


def code_of(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


async def test_a_hash_unknown_to_the_server_is_not_found_then_learnt_with_its_query(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    await store.arrive(name="Rex")
    miss = await client.post("/graphql", json={"extensions": persisted(PETS)})
    assert miss.status_code == 200
    assert miss.json() == NOT_FOUND

    plain = await client.post("/graphql", json={"query": PETS})
    answered = app.state.compiled.answered
    learnt = await client.post("/graphql", json={"query": PETS, "extensions": persisted(PETS)})
    hit = await client.post("/graphql", json={"extensions": persisted(PETS)})
    assert learnt.content == hit.content == plain.content
    assert b'"Rex"' in hit.content
    assert app.state.compiled.answered == answered + 2, "the compiled path answers them"


async def test_a_persisted_query_by_get_is_answered_by_the_compiled_path(
    client: httpx.AsyncClient, app: Starlette, store: Store
) -> None:
    await store.arrive(name="Rex")
    params = {"extensions": json.dumps(persisted(PETS)), "operationName": "Pets"}
    miss = await client.get("/graphql", params=params)
    assert miss.json() == NOT_FOUND
    await client.post("/graphql", json={"query": PETS, "extensions": persisted(PETS)})

    answered = app.state.compiled.answered
    hit = await client.get("/graphql", params=params)
    plain = await client.post("/graphql", json={"query": PETS})
    assert hit.status_code == 200
    assert hit.content == plain.content
    assert app.state.compiled.answered == answered + 2


async def test_get_passes_variables_to_the_persisted_query(
    client: httpx.AsyncClient, store: Store
) -> None:
    pet_id = (await store.arrive(name="Rex"))["pet"]["id"]
    query = "query One($id: UUID!) { pet(id: $id) { name } }"
    await client.post("/graphql", json={"query": query, "extensions": persisted(query)})
    hit = await client.get(
        "/graphql",
        params={
            "extensions": json.dumps(persisted(query)),
            "variables": json.dumps({"id": pet_id}),
        },
    )
    assert hit.json() == {"data": {"pet": {"name": "Rex"}}}


async def test_a_persisted_mutation_runs_by_post_and_is_refused_by_get(
    client: httpx.AsyncClient,
) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    first = await client.post(
        "/graphql", json={"query": ARRIVE, "extensions": persisted(ARRIVE)}, headers=auth
    )
    again = await client.post("/graphql", json={"extensions": persisted(ARRIVE)}, headers=auth)
    for response in (first, again):
        assert response.json()["data"]["recordPetArrival"] == {
            "pet": {"name": "Apq"},
            "userErrors": [],
        }
    by_get = await client.get(
        "/graphql", params={"extensions": json.dumps(persisted(ARRIVE))}, headers=auth
    )
    assert by_get.status_code == 400
    count = await client.post("/graphql", json={"query": "{ pets { edges { node { id } } } }"})
    assert len(count.json()["data"]["pets"]["edges"]) == 2


@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": {"version": 1, "sha256Hash": sha256("{ __typename }")}},
        {"persistedQuery": {"version": 2, "sha256Hash": sha256(PETS)}},
        {"persistedQuery": {"version": 1, "sha256Hash": "not-a-hash"}},
        {"persistedQuery": {"version": 1}},
        {"persistedQuery": "yes"},
    ],
)
async def test_a_hash_that_is_not_the_query_s_sha256_is_refused(
    client: httpx.AsyncClient, extensions: dict[str, Any]
) -> None:
    refused = await client.post("/graphql", json={"query": PETS, "extensions": extensions})
    assert code_of(refused) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert "data" not in refused.json()
    # Nothing was learnt under the wrong hash.
    lookup = await client.post("/graphql", json={"extensions": extensions})
    assert code_of(lookup) in ("PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_HASH_MISMATCH")


@pytest.mark.parametrize(
    "settings", [Settings(api_tokens={API_TOKEN: API_TOKEN_NAME}, persisted_queries=False)]
)
async def test_persisted_queries_switched_off_answer_not_supported(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post("/graphql", json={"query": PETS, "extensions": persisted(PETS)})
    assert refused.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotSupported",
                "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
            }
        ]
    }
    plain = await client.post("/graphql", json={"query": PETS})
    assert plain.json() == {"data": {"pets": {"edges": []}}}


INTROSPECTION = "query Root { __schema { queryType { name } } }"


async def test_a_persisted_query_that_strawberry_answers_reaches_it_whole(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    # The compiled path does not plan introspection: strawberry answers, from
    # the document written back into the URL or the body.
    expected = {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    learnt = await client.post(
        "/graphql", json={"query": INTROSPECTION, "extensions": persisted(INTROSPECTION)}
    )
    passed_on = app.state.compiled.passed_on
    by_post = await client.post("/graphql", json={"extensions": persisted(INTROSPECTION)})
    by_get = await client.get(
        "/graphql",
        params={"extensions": json.dumps(persisted(INTROSPECTION)), "operationName": "Root"},
    )
    for response in (learnt, by_post, by_get):
        assert response.json() == expected, response.text
    assert app.state.compiled.passed_on == passed_on + 2


@pytest.mark.parametrize(
    "settings", [Settings(api_tokens={API_TOKEN: API_TOKEN_NAME}, compiled_operations=False)]
)
async def test_persisted_queries_work_with_the_compiled_path_off(
    client: httpx.AsyncClient, store: Store
) -> None:
    await store.arrive(name="Rex")
    await client.post("/graphql", json={"query": PETS, "extensions": persisted(PETS)})
    by_get = await client.get("/graphql", params={"extensions": json.dumps(persisted(PETS))})
    by_post = await client.post("/graphql", json={"extensions": persisted(PETS)})
    assert by_get.content == by_post.content
    assert b'"Rex"' in by_get.content
