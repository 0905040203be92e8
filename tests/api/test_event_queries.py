"""event(id) and events(filter:, first:, after:): concrete types, filters, and
cursors that resume the stream without skipping or repeating an event."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from tests.api.store import CONCRETE_EVENT_FIELDS, Store, ids, settle
from tests.conftest import GraphQLClient

EVENT_FIELDS = "__typename id type petId petVersion createdAt cursor" + CONCRETE_EVENT_FIELDS

EVENTS = f"""
query($filter: EventFilter, $first: Int, $after: String) {{
  events(filter: $filter, first: $first, after: $after) {{
    edges {{ cursor node {{ {EVENT_FIELDS} }} }}
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
  }}
}}
"""


async def events(
    gql: GraphQLClient,
    filter: dict[str, Any] | None = None,
    first: int | None = 100,
    after: str | None = None,
) -> dict[str, Any]:
    result = await gql.query(EVENTS, {"filter": filter, "first": first, "after": after})
    assert "errors" not in result, result
    connection: dict[str, Any] = result["data"]["events"]
    return connection


def without_metadata(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "metadata"}


@pytest.fixture
async def history(store: Store, conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Seven events of all six types on two pets, A and B, as the mutations
    returned them, in the order they were recorded."""
    a = await store.arrive(name="A", species="Cat", price="100.00")
    a_id = a["pet"]["id"]
    recorded = [
        a,
        await store.birth(a_id, name="B", price="30.00"),
        await store.change_price(a_id, "90.00"),
        await store.lose(a_id, lostDate="2024-01-02", lastSeenLocation="garden"),
        await store.find(a_id, foundDate="2024-01-03", foundLocation="roof"),
        await store.sell(a_id, customer_id="11111111-1111-4111-8111-111111111111"),
    ]
    b_id = recorded[1]["pet"]["id"]
    recorded.append(await store.lose(b_id, lostDate="2024-02-01"))
    await settle(conn)
    return [without_metadata(payload["event"]) for payload in recorded]


async def test_event_by_id_returns_its_concrete_type(
    gql: GraphQLClient, history: list[dict[str, Any]]
) -> None:
    assert {e["__typename"] for e in history} == {
        "PetArrived",
        "PetBorn",
        "PetSold",
        "PetPriceChange",
        "PetLost",
        "PetFoundAgain",
    }
    for expected in history:
        result = await gql.query(
            f"query($id: UUID!) {{ event(id: $id) {{ {EVENT_FIELDS} pet {{ id }} }} }}",
            {"id": expected["id"]},
        )
        assert result == {"data": {"event": {**expected, "pet": {"id": expected["petId"]}}}}


async def test_event_with_an_unknown_id_is_null(gql: GraphQLClient) -> None:
    result = await gql.query('{ event(id: "00000000-0000-4000-8000-000000000000") { id } }')
    assert result == {"data": {"event": None}}


async def test_events_lists_every_event_in_the_order_recorded(
    gql: GraphQLClient, history: list[dict[str, Any]]
) -> None:
    connection = await events(gql)
    assert [edge["node"] for edge in connection["edges"]] == history
    assert [edge["cursor"] for edge in connection["edges"]] == [e["cursor"] for e in history]
    assert connection["pageInfo"]["hasNextPage"] is False


async def test_events_filtered_by_pet(gql: GraphQLClient, history: list[dict[str, Any]]) -> None:
    a_id, b_id = history[0]["petId"], history[1]["petId"]
    by_a = await events(gql, {"petId": a_id})
    assert ids(by_a["edges"]) == [history[i]["id"] for i in (0, 2, 3, 4, 5)]
    by_b = await events(gql, {"petId": b_id})
    assert ids(by_b["edges"]) == [history[1]["id"], history[6]["id"]]


async def test_events_filtered_by_types(gql: GraphQLClient, history: list[dict[str, Any]]) -> None:
    lost = await events(gql, {"types": ["PET_LOST"]})
    assert ids(lost["edges"]) == [history[3]["id"], history[6]["id"]]
    some = await events(gql, {"types": ["PET_SOLD", "PET_BORN"]})
    assert ids(some["edges"]) == [history[1]["id"], history[5]["id"]]
    b_lost = await events(gql, {"types": ["PET_LOST"], "petId": history[1]["petId"]})
    assert ids(b_lost["edges"]) == [history[6]["id"]]


async def test_events_filtered_by_time_window_include_both_ends(
    gql: GraphQLClient, history: list[dict[str, Any]]
) -> None:
    window = {"since": history[2]["createdAt"], "until": history[4]["createdAt"]}
    assert ids((await events(gql, window))["edges"]) == [history[i]["id"] for i in (2, 3, 4)]
    since = await events(gql, {"since": history[5]["createdAt"]})
    assert ids(since["edges"]) == [history[5]["id"], history[6]["id"]]
    until = await events(gql, {"until": history[0]["createdAt"]})
    assert ids(until["edges"]) == [history[0]["id"]]


async def test_events_time_filter_without_a_time_zone_is_refused(
    gql: GraphQLClient, history: list[dict[str, Any]]
) -> None:
    result = await gql.query(
        '{ events(filter: {since: "2024-01-01T00:00:00"}) { edges { cursor } } }'
    )
    assert result["data"] is None
    [error] = result["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "since" in error["message"]


async def test_walking_events_two_at_a_time_yields_each_once(
    gql: GraphQLClient, history: list[dict[str, Any]]
) -> None:
    seen: list[str] = []
    next_pages: list[bool] = []
    after: str | None = None
    while True:
        connection = await events(gql, first=2, after=after)
        seen += ids(connection["edges"])
        next_pages.append(connection["pageInfo"]["hasNextPage"])
        assert connection["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == [e["id"] for e in history]
    assert next_pages == [True, True, True, False]


async def test_every_event_cursor_resumes_right_after_its_event(
    gql: GraphQLClient, history: list[dict[str, Any]]
) -> None:
    all_ids = [e["id"] for e in history]
    for index, event in enumerate(history):
        rest = await events(gql, after=event["cursor"])
        assert ids(rest["edges"]) == all_ids[index + 1 :]


async def test_after_zero_starts_at_the_beginning(
    gql: GraphQLClient, history: list[dict[str, Any]]
) -> None:
    from_zero = await events(gql, after="0")
    assert ids(from_zero["edges"]) == [e["id"] for e in history]
    assert from_zero == await events(gql, after=None)


async def test_events_written_between_pages_come_after_the_ones_already_there(
    store: Store, gql: GraphQLClient, conn: asyncpg.Connection, history: list[dict[str, Any]]
) -> None:
    first = await events(gql, first=3)
    newer = await store.arrive(name="Late")
    await settle(conn)
    rest = await events(gql, first=100, after=first["pageInfo"]["endCursor"])
    assert ids(first["edges"]) + ids(rest["edges"]) == [
        *(e["id"] for e in history),
        newer["event"]["id"],
    ]


async def test_a_reader_does_not_skip_an_event_whose_transaction_commits_late(
    store: Store, gql: GraphQLClient, conn: asyncpg.Connection
) -> None:
    early = await store.arrive(name="Early")
    await settle(conn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        # This event takes its transaction id first but commits last.
        late_pet = uuid.uuid4()
        await conn.execute(
            "insert into pet_arrived_events (pet_id, name, species, price) "
            "values ($1, 'Slow', 'Cat', 1.00)",
            late_pet,
        )
        meanwhile = await store.arrive(name="Quick")
        visible = await events(gql, after="0")
        # Quick has committed, but showing it now would let a reader's cursor
        # pass Slow, which is still to come.
        assert ids(visible["edges"]) == [early["event"]["id"]]
        cursor = visible["pageInfo"]["endCursor"]
    finally:
        await transaction.commit()
    await settle(conn)
    rest = await events(gql, after=cursor)
    assert [edge["node"]["petId"] for edge in rest["edges"]] == [
        str(late_pet),
        meanwhile["pet"]["id"],
    ]
