"""Trusted documents (PETSTORE_TRUSTED_DOCUMENTS): the manifest's documents
run, by hash, by documentId or as their text, over POST and GET, through the
compiled path; every other document is refused with a typed error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graphql_petstore.errors import ConfigurationError
from graphql_petstore.persisted import load_manifest
from graphql_petstore.settings import Settings
from tests.conftest import API_TOKEN, API_TOKEN_NAME


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256(text)}}


def code_of(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


TRUSTED_QUERY = "query Trusted { pets(first: 2) { edges { node { name } } } }"
TRUSTED_ID = sha256(TRUSTED_QUERY)
RELAY_ID = "relay-style-id-1"
RELAY_QUERY = "query ByRelayId { __typename }"


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({TRUSTED_ID: TRUSTED_QUERY, RELAY_ID: RELAY_QUERY}))
    return path


@pytest.fixture
def settings(manifest: Path) -> Settings:
    return Settings(api_tokens={API_TOKEN: API_TOKEN_NAME}, trusted_documents=manifest)


async def test_trusted_documents_run_by_hash_by_document_id_and_as_their_text(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    expected = {"data": {"pets": {"edges": []}}}
    answered = app.state.compiled.answered
    by_hash = await client.post("/graphql", json={"extensions": persisted(TRUSTED_QUERY)})
    by_get = await client.get(
        "/graphql", params={"extensions": json.dumps(persisted(TRUSTED_QUERY))}
    )
    by_id = await client.post("/graphql", json={"documentId": f"sha256:{TRUSTED_ID}"})
    as_text = await client.post("/graphql", json={"query": TRUSTED_QUERY})
    for response in (by_hash, by_get, by_id, as_text):
        assert response.json() == expected, response.text
    assert app.state.compiled.answered == answered + 4
    relay = await client.post("/graphql", json={"documentId": RELAY_ID})
    assert relay.json() == {"data": {"__typename": "Query"}}


async def test_trusted_documents_refuse_every_other_document(client: httpx.AsyncClient) -> None:
    other = "{ pets { edges { node { id } } } }"
    as_text = await client.post("/graphql", json={"query": other})
    by_get = await client.get("/graphql", params={"query": other})
    learning = await client.post("/graphql", json={"query": other, "extensions": persisted(other)})
    for response in (as_text, by_get, learning):
        assert code_of(response) == "PERSISTED_QUERY_REQUIRED", response.text
    unknown = await client.post("/graphql", json={"extensions": persisted(other)})
    assert code_of(unknown) == "PERSISTED_QUERY_NOT_FOUND"
    introspection = await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
    assert code_of(introspection) == "PERSISTED_QUERY_REQUIRED"


def test_an_apollo_manifest_is_read_as_well(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [
                    {"id": TRUSTED_ID, "name": "Trusted", "type": "query", "body": TRUSTED_QUERY}
                ],
            }
        )
    )
    assert load_manifest(path) == {TRUSTED_ID: TRUSTED_QUERY}


def test_a_manifest_that_is_not_one_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigurationError, match="PETSTORE_TRUSTED_DOCUMENTS"):
        load_manifest(path)


async def test_trusted_documents_refuse_other_subscriptions_over_websocket(
    database_url: str, manifest: Path, tmp_path: Path
) -> None:
    from tests.subscriptions.support import connect, start_server

    server = await start_server(database_url, tmp_path, PETSTORE_TRUSTED_DOCUMENTS=str(manifest))
    try:
        async with connect(server) as ws:
            subscription = await ws.subscribe("events", "subscription { events { id } }")
            message = await ws.message(subscription.id)
    finally:
        await server.close()
    assert message["type"] == "error", message
    [error] = message["payload"]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
