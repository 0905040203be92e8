"""pet(id), pets(filter:) and the relations between pets: mother, offspring."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.store import Store, ids
from tests.conftest import GraphQLClient

PET_FIELDS = "id name species price status customerId motherId version lastEventId"


async def pets_matching(gql: GraphQLClient, filter: dict[str, Any]) -> list[str]:
    result = await gql.query(
        "query($filter: PetFilter) { pets(filter: $filter, first: 500) { edges { node { id } } "
        "pageInfo { hasNextPage } } }",
        {"filter": filter},
    )
    assert "errors" not in result, result
    assert result["data"]["pets"]["pageInfo"]["hasNextPage"] is False
    return ids(result["data"]["pets"]["edges"])


@pytest.fixture
async def family(store: Store) -> dict[str, str]:
    """A small store: a cat with two kittens (one sold), a lost dog, a parrot."""
    cat = (await store.arrive(name="Mom", species="Cat"))["pet"]["id"]
    kit1 = (await store.birth(cat, name="Kit1"))["pet"]["id"]
    kit2 = (await store.birth(cat, name="Kit2"))["pet"]["id"]
    await store.sell(kit2)
    dog = (await store.arrive(name="Rex", species="Dog"))["pet"]["id"]
    await store.lose(dog)
    parrot = (await store.arrive(name="Polly", species="Parrot"))["pet"]["id"]
    return {"cat": cat, "kit1": kit1, "kit2": kit2, "dog": dog, "parrot": parrot}


async def test_pet_by_id_returns_the_read_model_row(store: Store, gql: GraphQLClient) -> None:
    written = await store.arrive(name="Tom", species="Cat", price="7.50")
    result = await gql.query(
        f"query($id: UUID!) {{ pet(id: $id) {{ {PET_FIELDS} }} }}", {"id": written["pet"]["id"]}
    )
    assert result == {
        "data": {
            "pet": {
                "id": written["pet"]["id"],
                "name": "Tom",
                "species": "Cat",
                "price": "7.50",
                "status": "AVAILABLE",
                "customerId": None,
                "motherId": None,
                "version": 1,
                "lastEventId": written["event"]["id"],
            }
        }
    }


async def test_pet_with_an_unknown_id_is_null(gql: GraphQLClient) -> None:
    result = await gql.query('query { pet(id: "00000000-0000-4000-8000-000000000000") { id } }')
    assert result == {"data": {"pet": None}}


async def test_pets_filtered_by_status(gql: GraphQLClient, family: dict[str, str]) -> None:
    f = family
    assert await pets_matching(gql, {"status": ["SOLD"]}) == [f["kit2"]]
    assert await pets_matching(gql, {"status": ["LOST"]}) == [f["dog"]]
    assert await pets_matching(gql, {"status": ["AVAILABLE"]}) == [f["cat"], f["kit1"], f["parrot"]]
    assert await pets_matching(gql, {"status": ["SOLD", "LOST"]}) == [f["kit2"], f["dog"]]


async def test_pets_filtered_by_species(gql: GraphQLClient, family: dict[str, str]) -> None:
    f = family
    assert await pets_matching(gql, {"species": "Cat"}) == [f["cat"], f["kit1"], f["kit2"]]
    assert await pets_matching(gql, {"species": "Dog"}) == [f["dog"]]
    assert await pets_matching(gql, {"species": "Unicorn"}) == []


async def test_pets_filtered_by_mother(gql: GraphQLClient, family: dict[str, str]) -> None:
    f = family
    assert await pets_matching(gql, {"motherId": f["cat"]}) == [f["kit1"], f["kit2"]]
    assert await pets_matching(gql, {"motherId": f["dog"]}) == []


async def test_pet_filters_combine(gql: GraphQLClient, family: dict[str, str]) -> None:
    f = family
    combined = {"motherId": f["cat"], "status": ["AVAILABLE"], "species": "Cat"}
    assert await pets_matching(gql, combined) == [f["kit1"]]
    assert await pets_matching(gql, {"species": "Cat", "status": ["LOST"]}) == []


async def test_pets_without_a_filter_lists_every_pet_in_id_order(
    gql: GraphQLClient, family: dict[str, str]
) -> None:
    every = await pets_matching(gql, {})
    assert every == sorted(family.values())
    assert len(every) == 5


async def test_mother_and_offspring_link_the_family(
    gql: GraphQLClient, family: dict[str, str]
) -> None:
    f = family
    result = await gql.query(
        "query($cat: UUID!, $kit: UUID!, $dog: UUID!) {"
        " cat: pet(id: $cat) { mother { id } offspring { id name status mother { id } } }"
        " kit: pet(id: $kit) { mother { id name species } offspring { id } }"
        " dog: pet(id: $dog) { mother { id } offspring { id } } }",
        {"cat": f["cat"], "kit": f["kit1"], "dog": f["dog"]},
    )
    assert result == {
        "data": {
            "cat": {
                "mother": None,
                "offspring": [
                    {
                        "id": f["kit1"],
                        "name": "Kit1",
                        "status": "AVAILABLE",
                        "mother": {"id": f["cat"]},
                    },
                    {"id": f["kit2"], "name": "Kit2", "status": "SOLD", "mother": {"id": f["cat"]}},
                ],
            },
            "kit": {"mother": {"id": f["cat"], "name": "Mom", "species": "Cat"}, "offspring": []},
            "dog": {"mother": None, "offspring": []},
        }
    }


async def test_nodes_lists_the_same_pets_as_edges(
    gql: GraphQLClient, family: dict[str, str]
) -> None:
    result = await gql.query("{ pets { nodes { id } edges { node { id } } } }")
    pets = result["data"]["pets"]
    assert [node["id"] for node in pets["nodes"]] == ids(pets["edges"])
    assert len(pets["nodes"]) == 5
