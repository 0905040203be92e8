"""Shared execution answers exactly as execution one by one: the same mixed
set of subscriptions on a server that shares (the default) and on one with
PETSTORE_SUBSCRIPTION_SHARING=off, both on one database, over real
WebSockets of both subprotocols; every subscription's frames, as text, must
be the same in the same order. Several subscribers of each kind on the
sharing server put them into groups; an error in executing an event reaches
every member as it reaches a subscriber alone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from tests.observability.conftest import scrape
from tests.observability.scrapes import value
from tests.subscriptions.raw import LEGACY_WS, TRANSPORT_WS, RawSocket, raw_socket
from tests.subscriptions.support import (
    API_TOKEN,
    ARRIVE,
    EVENTS_SUBSCRIPTION,
    Server,
    ServerFactory,
)

ALIASED = """
subscription Changes($filter: EventFilter) {
  changes: events(filter: $filter) {
    eventId: id
    kind: __typename
    ... on PetPriceChange { was: oldPrice now: newPrice }
    ... on PetSold { salePrice }
  }
}
"""
INCLUDED = """
subscription Included($withPet: Boolean!, $withMeta: Boolean!) {
  events {
    id
    __typename
    petId @include(if: $withPet)
    ...Audit @include(if: $withMeta)
  }
}
fragment Audit on PetEvent { metadata actor requestId }
"""
PET = """
subscription Pet($id: UUID) {
  petChanged(id: $id) {
    __typename
    pet { id name price status version }
    event { id type ... on PetPriceChange { newPrice } }
  }
}
"""
SOLD = """
subscription {
  petChanged(status: [SOLD]) { pet { id status customerId } event { id type } }
}
"""
# pet.history refuses first beyond the page limit: an error at that path,
# for every event, that nulls `pet` (nullable) and leaves the rest.
FAILING = """
subscription {
  events { id cursor pet { name history(first: 100000) { nodes { type } } } }
}
"""


def specs(pets: list[str], cursor: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "a": (EVENTS_SUBSCRIPTION, {"after": None, "filter": None}),
        "b": (ALIASED, {"filter": {"types": ["PET_PRICE_CHANGE", "PET_SOLD"]}}),
        "c1": (INCLUDED, {"withPet": True, "withMeta": False}),
        "c2": (INCLUDED, {"withPet": False, "withMeta": True}),
        "d1": (PET, {"id": pets[0]}),
        "d2": (PET, {"id": pets[1]}),
        "e": (SOLD, {}),
        "f": (FAILING, {}),
        # Reads from its own cursor first, then joins the group of "a".
        "g": (EVENTS_SUBSCRIPTION, {"after": cursor, "filter": None}),
    }


async def arrive(server: Server, name: str) -> tuple[str, str, str]:
    """(pet id, event id, event cursor) of a new arrival."""
    payload = await server.write(ARRIVE, {"name": name, "species": "Dog", "price": "10.00"})
    return payload["pet"]["id"], payload["event"]["id"], payload["event"]["cursor"]


async def until_quiet(sockets: list[RawSocket], quiet: float = 1.0, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for socket in sockets:
            socket.arrived.clear()
        await asyncio.sleep(quiet)
        if not any(socket.arrived.is_set() for socket in sockets):
            return
    raise AssertionError("the frames never stopped coming")


def measured(frames: list[str], event_ids: list[str]) -> list[str]:
    """The frames about the events written in the measured part."""
    return [frame for frame in frames if any(event_id in frame for event_id in event_ids)]


async def test_shared_and_unshared_subscriptions_send_the_same_frames(
    serve: ServerFactory,
) -> None:
    shared = await serve()
    plain = await serve(PETSTORE_SUBSCRIPTION_SHARING="off")
    first, _, cursor = await arrive(shared, "First")
    second, _, _ = await arrive(shared, "Second")
    for price in ("11.00", "12.00", "13.00"):
        await shared.change_price(first, price)
    subscriptions = specs([first, second], cursor)
    token = {"Authorization": f"Bearer {API_TOKEN}"}

    async with contextlib.AsyncExitStack() as stack:

        async def open_socket(server: Server, protocol: str, **options: Any) -> RawSocket:
            return await stack.enter_async_context(raw_socket(server, protocol, **options))

        # name -> socket; sockets compared with each other share a prefix.
        sockets = {
            "t-shared-1": await open_socket(shared, TRANSPORT_WS),
            "t-shared-2": await open_socket(shared, TRANSPORT_WS),
            "t-plain": await open_socket(plain, TRANSPORT_WS),
            "token-shared-1": await open_socket(shared, TRANSPORT_WS, headers=token),
            "token-shared-2": await open_socket(
                shared, TRANSPORT_WS, init_payload={"Authorization": token["Authorization"]}
            ),
            "token-plain": await open_socket(plain, TRANSPORT_WS, headers=token),
            "l-shared-1": await open_socket(shared, LEGACY_WS),
            "l-shared-2": await open_socket(shared, LEGACY_WS),
            "l-plain": await open_socket(plain, LEGACY_WS),
        }
        for socket in sockets.values():
            for op_id, (query, variables) in subscriptions.items():
                await socket.subscribe(op_id, query, variables)

        # Live: every subscription has had a frame from writes made after it
        # subscribed (written until then).
        deadline = time.monotonic() + 30
        while not all(s.frames[op] for s in sockets.values() for op in subscriptions):
            assert time.monotonic() < deadline, {
                name: [op for op in subscriptions if not s.frames[op]]
                for name, s in sockets.items()
            }
            sentinel, _, _ = await arrive(shared, "Sentinel")
            await shared.change_price(first, "14.00")
            await shared.change_price(second, "14.00")
            await shared.sell(sentinel, "9.00")
            await asyncio.sleep(0.5)
        await until_quiet(list(sockets.values()))

        samples = await scrape(shared)
        assert value(samples, "petstore_subscription_groups") < value(
            samples, "petstore_subscriptions"
        )

        event_ids: list[str] = []
        for round_ in range(4):
            pet, event_id, _ = await arrive(shared, f"Measured {round_}")
            event_ids.append(event_id)
            event_ids.append(await shared.change_price(first, f"{20 + round_}.50"))
            event_ids.append(await shared.change_price(second, f"{30 + round_}.25"))
            event_ids.append(await shared.change_price(pet, "15.00"))
            if round_ % 2:
                event_ids.append(await shared.sell(pet, "16.00"))
        deadline = time.monotonic() + 30
        while not all(
            len(measured(s.frames["a"], event_ids)) == len(event_ids) for s in sockets.values()
        ):
            assert time.monotonic() < deadline, "not every event arrived"
            await asyncio.sleep(0.1)
        await until_quiet(list(sockets.values()))

    compared = {"t": TRANSPORT_WS, "token": TRANSPORT_WS, "l": LEGACY_WS}
    for prefix in compared:
        reference = sockets[f"{prefix}-plain"]
        for name in (f"{prefix}-shared-1", f"{prefix}-shared-2"):
            for op_id in subscriptions:
                expected = measured(reference.frames[op_id], event_ids)
                got = measured(sockets[name].frames[op_id], event_ids)
                assert got == expected, (name, op_id)

    # What was compared is what it should be.
    plain_frames = sockets["t-plain"]
    assert len(measured(plain_frames.frames["a"], event_ids)) == len(event_ids)
    assert [f["payload"] for f in plain_frames.items("g")][-len(event_ids) :] == [
        f["payload"] for f in plain_frames.items("a")
    ][-len(event_ids) :]
    sold = measured(plain_frames.frames["e"], event_ids)
    assert len(sold) == 2
    assert len(measured(plain_frames.frames["d1"], event_ids)) == 4
    [failing, *_] = [json.loads(f) for f in measured(plain_frames.frames["f"], event_ids)]
    assert failing["type"] == "next"
    assert failing["payload"]["data"]["events"]["pet"] is None
    [error] = failing["payload"]["errors"]
    assert error["path"] == ["events", "pet", "history"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    legacy = json.loads(measured(sockets["l-plain"].frames["a"], event_ids)[0])
    assert legacy["type"] == "data"
    # Token holders and others are told apart (another group each).
    assert any("metadata" in f for f in measured(sockets["token-shared-1"].frames["c2"], event_ids))
