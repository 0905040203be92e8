"""A DataLoader hands one future to every resolver that asks for one key, and
graphql-core cancels the pending fields of a selection when one of them fails:
the other selections that wait for the same key still get their answer."""

from __future__ import annotations

import dataclasses

import pytest

from graphql_petstore.settings import Settings
from tests.api.store import Store
from tests.conftest import GraphQLClient


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Strawberry's path, where the DataLoaders are.
    return dataclasses.replace(settings, compiled_operations=False)


async def test_a_failing_field_does_not_cancel_a_load_another_selection_waits_for(
    store: Store, gql: GraphQLClient
) -> None:
    mom = (await store.arrive(name="Mom"))["pet"]["id"]
    kit = (await store.birth(mom, name="Kit"))["pet"]["id"]
    # a asks for the mother first; b asks for the same mother, and its
    # history fails at once, which cancels b's pending mother.
    result = await gql.query(
        """query($kit: UUID!) {
             a: pet(id: $kit) { mother { name } }
             b: pet(id: $kit) { mother { id } history(first: -1) { nodes { id } } }
           }""",
        {"kit": kit},
    )
    assert result["data"] == {"a": {"mother": {"name": "Mom"}}, "b": None}
    [error] = result["errors"]
    assert error["path"] == ["b", "history"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
