"""correlationId and causationId: stored in metadata, exposed on every event."""

from __future__ import annotations

import uuid

import pytest

from tests.api.store import Store
from tests.conftest import API_TOKEN_NAME, GraphQLClient

EVENT = """
query($id: UUID!) {
  event(id: $id) { actor requestId correlationId causationId metadata }
}
"""


@pytest.fixture
def store(gql: GraphQLClient) -> Store:
    return Store(gql)


async def test_correlation_and_causation_ids_are_stored_and_exposed(
    store: Store, gql: GraphQLClient
) -> None:
    correlation, causation = uuid.uuid4(), uuid.uuid4()
    arrived = await store.arrive(correlationId=str(correlation), causationId=str(causation))

    result = await gql.write(EVENT, {"id": arrived["event"]["id"]})

    assert "errors" not in result, result
    event = result["data"]["event"]
    assert event["correlationId"] == str(correlation)
    assert event["causationId"] == str(causation)
    assert event["actor"] == API_TOKEN_NAME
    assert event["requestId"] == event["metadata"]["requestId"]
    assert event["metadata"]["correlationId"] == str(correlation)
    assert event["metadata"]["causationId"] == str(causation)


async def test_without_them_the_fields_are_null(store: Store, gql: GraphQLClient) -> None:
    arrived = await store.arrive()
    event = (await gql.write(EVENT, {"id": arrived["event"]["id"]}))["data"]["event"]
    assert (event["correlationId"], event["causationId"]) == (None, None)
    assert "correlationId" not in event["metadata"]


async def test_a_malformed_correlation_id_is_a_graphql_error(store: Store) -> None:
    result = await store.gql.write(
        'mutation { recordPetArrival(input: {name: "A", species: "Cat", price: "1.00",'
        ' correlationId: "nope"}) { userErrors { code } } }'
    )
    assert result.get("data") is None
    assert result["errors"]
