"""pet(id, asOf:): the pet as its events up to that instant left it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from tests.api.store import Store, parse_time
from tests.conftest import GraphQLClient

AS_OF = """
query($id: UUID!, $asOf: DateTime) {
  pet(id: $id, asOf: $asOf) { id name price status customerId version lastEventId updatedAt }
}
"""
MICROSECOND = timedelta(microseconds=1)


async def pet_as_of(gql: GraphQLClient, pet_id: str, as_of: str) -> dict[str, Any] | None:
    result = await gql.query(AS_OF, {"id": pet_id, "asOf": as_of})
    assert "errors" not in result, result
    pet: dict[str, Any] | None = result["data"]["pet"]
    return pet


def between(earlier: str, later: str) -> str:
    start, end = parse_time(earlier), parse_time(later)
    assert start < end
    return (start + (end - start) / 2).isoformat()


async def test_as_of_returns_each_past_state_and_null_before_the_first_event(
    store: Store, gql: GraphQLClient
) -> None:
    arrived = await store.arrive(name="Tom", price="10.00")
    pet_id = arrived["pet"]["id"]
    repriced = await store.change_price(pet_id, "20.00")
    customer = "22222222-2222-4222-8222-222222222222"
    sold = await store.sell(pet_id, customer_id=customer)
    e1, e2, e3 = (p["event"] for p in (arrived, repriced, sold))

    def state(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return {
            "id": pet_id,
            "name": "Tom",
            "customerId": None,
            "lastEventId": event["id"],
            "updatedAt": event["createdAt"],
            "version": event["petVersion"],
            **fields,
        }

    first = parse_time(e1["createdAt"])
    assert await pet_as_of(gql, pet_id, (first - MICROSECOND).isoformat()) is None
    assert await pet_as_of(gql, pet_id, e1["createdAt"]) == state(
        e1, price="10.00", status="AVAILABLE"
    )
    assert await pet_as_of(gql, pet_id, between(e1["createdAt"], e2["createdAt"])) == state(
        e1, price="10.00", status="AVAILABLE"
    )
    assert await pet_as_of(gql, pet_id, between(e2["createdAt"], e3["createdAt"])) == state(
        e2, price="20.00", status="AVAILABLE"
    )
    now = await pet_as_of(gql, pet_id, "2999-01-01T00:00:00Z")
    assert now == state(e3, price="20.00", status="SOLD", customerId=customer)
    assert now == {k: sold["pet"][k] for k in now}


async def test_as_of_in_another_time_zone_means_the_same_instant(
    store: Store, gql: GraphQLClient
) -> None:
    arrived = await store.arrive(price="10.00")
    pet_id = arrived["pet"]["id"]
    repriced = await store.change_price(pet_id, "20.00")
    instant = parse_time(between(arrived["event"]["createdAt"], repriced["event"]["createdAt"]))
    tokyo = instant.astimezone(timezone(timedelta(hours=9))).isoformat()
    pet = await pet_as_of(gql, pet_id, tokyo)
    assert pet is not None
    assert (pet["price"], pet["version"]) == ("10.00", 1)


async def test_as_of_for_an_unknown_pet_is_null(gql: GraphQLClient) -> None:
    assert (
        await pet_as_of(gql, "00000000-0000-4000-8000-000000000000", "2999-01-01T00:00:00Z") is None
    )


async def test_as_of_without_a_time_zone_is_an_error(store: Store, gql: GraphQLClient) -> None:
    pet_id = (await store.arrive())["pet"]["id"]
    naive = datetime.now().replace(tzinfo=None).isoformat()
    result = await gql.query(AS_OF, {"id": pet_id, "asOf": naive})
    assert result["data"] == {"pet": None}
    [error] = result["errors"]
    assert error["path"] == ["pet"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "asOf" in error["message"]
    assert "time zone" in error["message"]
