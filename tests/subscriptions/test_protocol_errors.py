"""Every malformed WebSocket message is answered — graphql-transport-ws with
its close codes or an `error` message, the legacy graphql-ws with an `error`
message — never by a connection dropped without a close frame; messages obey
the HTTP body limit; sockets that never initialise are timed out and capped
without locking out those that do; audit fields need a token here too.

A real server, and a raw WebSocket client (websockets) that shows exactly
what arrives: a close frame's code, or none at all."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from tests.subscriptions.support import API_TOKEN, ServerFactory

TRANSPORT = "graphql-transport-ws"
LEGACY = "graphql-ws"
SUBSCRIPTION = "subscription { events { id } }"
WAIT = 10.0
SETTINGS = {
    "PETSTORE_WEBSOCKET_INIT_TIMEOUT": "1",
    "PETSTORE_MAX_UNINITIALISED_WEBSOCKETS": "3",
    "PETSTORE_MAX_BODY_BYTES": "100000",
}

NO_CLOSE_FRAME = None


async def exchange(
    url: str, messages: list[Any], *, protocol: str = TRANSPORT, init: bool = True
) -> tuple[list[dict[str, Any]], int | None]:
    """What the server sends after `messages`: the messages (after the ack)
    and the close code, or None while the connection stays open; a
    connection dropped without a close frame fails the test."""
    received: list[dict[str, Any]] = []
    async with websockets.connect(url, subprotocols=[protocol], max_size=None) as ws:  # type: ignore[list-item]
        if init:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            assert ack["type"] == "connection_ack", ack
        for message in messages:
            await ws.send(message if isinstance(message, str | bytes) else json.dumps(message))
        try:
            while True:
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 2.0)))
        except TimeoutError:
            return received, None
        except websockets.ConnectionClosed as closed:
            frame = closed.rcvd
        assert frame is not NO_CLOSE_FRAME, f"dropped without a close frame: {received}"
        return received, frame.code


async def close_code(ws: Any) -> int | None:
    """The code of the close frame that ends `ws` (None: none came)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), WAIT)
    return None if closed.value.rcvd is None else closed.value.rcvd.code


def subscribe(payload: Any, id: Any = "1") -> dict[str, Any]:
    return {"id": id, "type": "subscribe", "payload": payload}


@pytest.mark.once  # the WebSocket protocol's handling, the same on any PostgreSQL
async def test_malformed_graphql_transport_ws_messages_are_answered(
    serve: ServerFactory,
) -> None:
    server = await serve(**SETTINGS)
    url = server.graphql_url.replace("http", "ws")
    closing = {
        "null payload": [subscribe(None)],
        "a list as message": ["[1, 2]"],
        "a number as message": ["5"],
        "not JSON": ["not json"],
        "a number too long": ['{"type": "ping", "payload": {"a": ' + "9" * 5000 + "}}"],
        "no type": [{"id": "1"}],
        "unknown type": [{"type": "bogus"}],
        "no id": [{"type": "subscribe", "payload": {"query": SUBSCRIPTION}}],
        "query not a string": [subscribe({"query": 5})],
        "variables a list": [subscribe({"query": SUBSCRIPTION, "variables": [1]})],
        "binary": [b"\x00\x01"],
        "duplicate id": [subscribe({"query": SUBSCRIPTION}), subscribe({"query": SUBSCRIPTION})],
    }
    for name, messages in closing.items():
        _, code = await exchange(url, messages)
        assert code in (4400, 4409), name
    _, code = await exchange(url, [subscribe({"query": SUBSCRIPTION})], init=False)
    assert code == 4401

    erring = {
        "syntax error": (subscribe({"query": "subscription {"}), "GRAPHQL_PARSE_FAILED"),
        "unknown field": (
            subscribe({"query": "subscription { nope }"}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        "NUL in a variable": (
            subscribe(
                {
                    "query": "subscription($a: String) { events(after: $a) { id } }",
                    "variables": {"a": "\x00"},
                }
            ),
            "UNSUPPORTED_CHARACTER",
        ),
    }
    for name, (message, expected) in erring.items():
        received, code = await exchange(url, [message])
        assert code is None, name
        assert [m["type"] for m in received] == ["error"], (name, received)
        assert received[0]["payload"][0]["extensions"]["code"] == expected, name


@pytest.mark.once  # the WebSocket protocol's handling, the same on any PostgreSQL
async def test_malformed_legacy_graphql_ws_messages_get_an_error(serve: ServerFactory) -> None:
    server = await serve(**SETTINGS)
    url = server.graphql_url.replace("http", "ws")
    for messages in (
        [{"id": "1", "type": "start", "payload": None}],
        ["[1]"],
        [{"type": "bogus"}],
        [{"type": "start", "payload": {"query": SUBSCRIPTION}}],
        [{"id": "1", "type": "start", "payload": {"query": "subscription {"}}],
    ):
        received, code = await exchange(url, messages, protocol=LEGACY)
        assert code is None, messages
        assert [m["type"] for m in received] == ["error"], (messages, received)


async def test_a_message_over_the_body_limit_is_refused_with_1009(serve: ServerFactory) -> None:
    server = await serve(**SETTINGS)
    url = server.graphql_url.replace("http", "ws")
    huge = subscribe({"query": SUBSCRIPTION + " " * 200_000})
    _, code = await exchange(url, [huge])
    assert code == 1009


@pytest.mark.once  # the WebSocket protocol's handling, the same on any PostgreSQL
async def test_uninitialised_sockets_are_timed_out_and_capped_apart(
    serve: ServerFactory,
) -> None:
    server = await serve(**SETTINGS)
    url = server.graphql_url.replace("http", "ws")
    idle = [
        await websockets.connect(url, subprotocols=[TRANSPORT])  # type: ignore[list-item]
        for _ in range(3)
    ]
    try:
        # A fourth socket that does not initialise is refused at once ...
        async with websockets.connect(url, subprotocols=[TRANSPORT]) as extra:  # type: ignore[list-item]
            assert await close_code(extra) == 1013
        # ... and the idle ones are closed with 4408 after the init timeout.
        for ws in idle:
            assert await close_code(ws) == 4408
    finally:
        for ws in idle:
            await ws.close()
    # Their slots are free again: a subscriber initialises and subscribes.
    received, code = await exchange(url, [subscribe({"query": "subscription { nope }"})])
    assert code is None
    assert received[0]["type"] == "error"


async def test_audit_fields_over_a_subscription_need_a_token(serve: ServerFactory) -> None:
    server = await serve(**SETTINGS)
    url = server.graphql_url.replace("http", "ws")
    document = 'subscription { events(after: "0") { actor requestId metadata } }'
    arrive = (
        'mutation { recordPetArrival(input: {name: "Rex", species: "Dog", price: "1"}) '
        "{ pet { id } } }"
    )
    await server.graphql(arrive, write=True)
    seen = {}
    for name, payload in (("anonymous", {}), ("token", {"Authorization": f"Bearer {API_TOKEN}"})):
        async with websockets.connect(url, subprotocols=[TRANSPORT]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            assert json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"] == "connection_ack"
            await ws.send(json.dumps(subscribe({"query": document})))
            message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            seen[name] = message["payload"]["data"]["events"]
    assert seen["anonymous"] == {"actor": None, "requestId": None, "metadata": None}
    assert seen["token"]["actor"] == "tester"
    assert seen["token"]["metadata"]["actor"] == "tester"
