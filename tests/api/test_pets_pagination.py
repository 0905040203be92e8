"""pets(first:, after:) pages through every pet exactly once, also while pets
are being added between the pages."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from tests.api.store import Store, ids
from tests.conftest import GraphQLClient

PAGE = """
query($first: Int, $after: String) {
  pets(first: $first, after: $after) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
ROUNDS_WITH_WRITES = 3


async def page(gql: GraphQLClient, first: int, after: str | None) -> dict[str, Any]:
    result = await gql.query(PAGE, {"first": first, "after": after})
    assert "errors" not in result, result
    connection: dict[str, Any] = result["data"]["pets"]
    return connection


async def arrivals(store: Store, count: int) -> list[str]:
    return [(await store.arrive(name=f"Pet{i}"))["pet"]["id"] for i in range(count)]


async def test_walking_all_pages_yields_every_pet_once_in_id_order(
    store: Store, gql: GraphQLClient
) -> None:
    created = await arrivals(store, 7)
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        connection = await page(gql, 2, after)
        pages.append(connection)
        seen += ids(connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == sorted(created)
    assert [len(p["edges"]) for p in pages] == [2, 2, 2, 1]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, True, False]
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True, True]
    for connection in pages:
        edges = connection["edges"]
        assert connection["pageInfo"]["startCursor"] == edges[0]["cursor"]
        assert connection["pageInfo"]["endCursor"] == edges[-1]["cursor"]


async def test_a_page_that_ends_exactly_at_the_last_pet_has_no_next_page(
    store: Store, gql: GraphQLClient
) -> None:
    created = await arrivals(store, 4)
    first = await page(gql, 2, None)
    second = await page(gql, 2, first["pageInfo"]["endCursor"])
    assert ids(first["edges"]) + ids(second["edges"]) == sorted(created)
    assert second["pageInfo"]["hasNextPage"] is False
    empty = await page(gql, 2, second["pageInfo"]["endCursor"])
    assert empty["edges"] == []
    assert empty["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": None,
        "endCursor": None,
    }


async def test_every_edge_cursor_resumes_right_after_its_pet(
    store: Store, gql: GraphQLClient
) -> None:
    created = sorted(await arrivals(store, 5))
    everything = await page(gql, 10, None)
    for index, edge in enumerate(everything["edges"]):
        rest = await page(gql, 10, edge["cursor"])
        assert ids(rest["edges"]) == created[index + 1 :]


async def test_an_empty_store_has_an_empty_first_page(gql: GraphQLClient) -> None:
    assert await page(gql, 2, None) == {
        "edges": [],
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


async def test_first_zero_returns_no_pets_but_tells_whether_there_are_any(
    store: Store, gql: GraphQLClient
) -> None:
    await arrivals(store, 1)
    connection = await page(gql, 0, None)
    assert connection["edges"] == []
    assert connection["pageInfo"]["hasNextPage"] is True


async def test_paging_is_stable_while_pets_are_added_between_pages(
    store: Store, gql: GraphQLClient, conn: asyncpg.Connection
) -> None:
    before = set(await arrivals(store, 6))
    seen: list[str] = []
    added: list[tuple[str, str]] = []  # (pet id, the cursor position when it was added)
    after: str | None = None
    position = ""  # the last id seen; every uuid sorts after ""
    round_ = 0
    while True:
        connection = await page(gql, 2, after)
        seen += ids(connection["edges"])
        if seen:
            position = seen[-1]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
        if round_ == ROUNDS_WITH_WRITES:
            continue
        # Between pages: one pet through the API (a newer UUIDv7, so after
        # every cursor) and, by plain SQL, one that sorts first and one last.
        round_ += 1
        new = (await store.arrive(name=f"New{round_}"))["pet"]["id"]
        low = str(uuid.UUID(int=round_))
        high = str(uuid.UUID(int=(1 << 128) - round_))
        for pet_id in (low, high):
            await conn.execute(
                "insert into pet_arrived_events (pet_id, name, species, price) "
                "values ($1, 'Raw', 'Cat', 1.00)",
                uuid.UUID(pet_id),
            )
        added += [(new, position), (low, position), (high, position)]

    assert round_ == ROUNDS_WITH_WRITES
    assert len(seen) == len(set(seen)), "a pet appeared twice"
    assert before <= set(seen), "a pet that existed when paging began was skipped"
    # A pet added behind the cursor is not seen; one added ahead of it is.
    expected_new = {pet_id for pet_id, at in added if uuid.UUID(pet_id) > uuid.UUID(at)}
    assert set(seen) - before == expected_new
    assert seen == sorted(seen, key=uuid.UUID)
