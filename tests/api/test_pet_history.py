"""Pet.history(first:, after:): a pet's own events, oldest first, in pages."""

from __future__ import annotations

from typing import Any

from tests.api.store import Store
from tests.conftest import GraphQLClient

HISTORY = """
query($id: UUID!, $first: Int, $after: String) {
  pet(id: $id) {
    history(first: $first, after: $after) {
      edges { cursor node { id type petVersion } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


async def history_page(
    gql: GraphQLClient, pet_id: str, first: int | None, after: str | None = None
) -> dict[str, Any]:
    result = await gql.query(HISTORY, {"id": pet_id, "first": first, "after": after})
    assert "errors" not in result, result
    connection: dict[str, Any] = result["data"]["pet"]["history"]
    return connection


async def five_events(store: Store) -> tuple[str, list[str]]:
    """A pet with five events, interleaved with another pet's, which must not show."""
    arrived = await store.arrive(price="10.00")
    pet_id = arrived["pet"]["id"]
    other = (await store.arrive(name="Other"))["pet"]["id"]
    payloads = [
        arrived,
        await store.change_price(pet_id, "11.00"),
        await store.change_price(other, "5.00"),
        await store.lose(pet_id),
        await store.find(pet_id),
        await store.sell(pet_id),
    ]
    return pet_id, [p["event"]["id"] for p in payloads if p["pet"]["id"] == pet_id]


async def test_history_lists_the_pets_events_oldest_first(store: Store, gql: GraphQLClient) -> None:
    pet_id, event_ids = await five_events(store)
    connection = await history_page(gql, pet_id, None)
    assert [edge["node"] for edge in connection["edges"]] == [
        {"id": event_ids[0], "type": "PET_ARRIVED", "petVersion": 1},
        {"id": event_ids[1], "type": "PET_PRICE_CHANGE", "petVersion": 2},
        {"id": event_ids[2], "type": "PET_LOST", "petVersion": 3},
        {"id": event_ids[3], "type": "PET_FOUND_AGAIN", "petVersion": 4},
        {"id": event_ids[4], "type": "PET_SOLD", "petVersion": 5},
    ]
    assert connection["pageInfo"]["hasNextPage"] is False
    assert connection["pageInfo"]["hasPreviousPage"] is False


async def test_history_pages_with_first_and_after(store: Store, gql: GraphQLClient) -> None:
    pet_id, event_ids = await five_events(store)
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        connection = await history_page(gql, pet_id, 2, after)
        pages.append(connection)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert [[edge["node"]["id"] for edge in p["edges"]] for p in pages] == [
        event_ids[0:2],
        event_ids[2:4],
        event_ids[4:5],
    ]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]
    for p in pages:
        assert p["pageInfo"]["startCursor"] == p["edges"][0]["cursor"]
        assert p["pageInfo"]["endCursor"] == p["edges"][-1]["cursor"]


async def test_every_history_cursor_resumes_right_after_its_event(
    store: Store, gql: GraphQLClient
) -> None:
    pet_id, event_ids = await five_events(store)
    everything = await history_page(gql, pet_id, 10)
    for index, edge in enumerate(everything["edges"]):
        rest = await history_page(gql, pet_id, 10, edge["cursor"])
        assert [e["node"]["id"] for e in rest["edges"]] == event_ids[index + 1 :]


async def test_histories_of_a_page_of_pets_belong_to_each_pet(
    store: Store, gql: GraphQLClient
) -> None:
    a = (await store.arrive(name="A"))["pet"]["id"]
    b = (await store.arrive(name="B"))["pet"]["id"]
    await store.change_price(a, "1.00")
    await store.change_price(b, "2.00")
    await store.change_price(a, "3.00")
    result = await gql.query(
        "{ pets { edges { node { id history(first: 2) { edges { node { petId petVersion "
        "... on PetPriceChange { newPrice } } } pageInfo { hasNextPage } } } } } }"
    )
    nodes = [edge["node"] for edge in result["data"]["pets"]["edges"]]
    assert nodes == [
        {
            "id": a,
            "history": {
                "edges": [
                    {"node": {"petId": a, "petVersion": 1}},
                    {"node": {"petId": a, "petVersion": 2, "newPrice": "1.00"}},
                ],
                "pageInfo": {"hasNextPage": True},
            },
        },
        {
            "id": b,
            "history": {
                "edges": [
                    {"node": {"petId": b, "petVersion": 1}},
                    {"node": {"petId": b, "petVersion": 2, "newPrice": "2.00"}},
                ],
                "pageInfo": {"hasNextPage": False},
            },
        },
    ]
