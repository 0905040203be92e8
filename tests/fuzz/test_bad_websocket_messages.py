"""Malformed graphql-transport-ws messages, and the malformed-input classes in
every argument of the subscriptions: the server answers each with an `error`
message for the operation or closes the socket with a protocol close code,
never by dropping it without a close frame, with 1011/4500, or with silence;
and a subscription's results never carry an internal error.

Each class is its own test; the assertion lists every message that failed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.fuzz.arguments import Leaf, Raw, arguments, document, encode, leaves
from tests.fuzz.target import FuzzTarget, internal_error
from tests.fuzz.test_bad_arguments import calendar_ends, text_values
from tests.subscriptions.support import GraphQLWebSocket, connect

pytestmark = pytest.mark.once

ANSWER_WITHIN = 2.0
EVENTS = "subscription { events { id } }"
# Closes that say what was wrong (graphql-transport-ws: 4400 invalid message,
# 4401 unauthorized, 4403 forbidden, 4408 init timeout, 4409 duplicate id,
# 4429 too many inits; RFC 6455: 1003 unsupported data, 1007 invalid payload,
# 1008 policy, 1009 too big). 1011 and 4500 are the server's own failure.
PROPER_CLOSES = {1000, 1003, 1007, 1008, 1009, 4400, 4401, 4403, 4408, 4409, 4413, 4429}

Send = Callable[[GraphQLWebSocket], Awaitable[None]]


def text(message: str) -> Send:
    async def send(client: GraphQLWebSocket) -> None:
        await client.ws.send_text(message)

    return send


def raw(message: bytes) -> Send:
    async def send(client: GraphQLWebSocket) -> None:
        await client.ws.send_bytes(message)

    return send


def subscribe(payload: Any, op_id: Any = "1") -> Send:
    return text(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


def twice(first: Send, second: Send) -> Send:
    async def send(client: GraphQLWebSocket) -> None:
        await first(client)
        await second(client)

    return send


# (label, initialised first?, what the client sends). The server may ignore
# only these (the protocol says so, or nothing is wrong with them):
SILENCE_OK = {"complete for an unknown id"}
MESSAGES: list[tuple[str, bool, Send]] = [
    ("subscribe with null payload", True, subscribe(None)),
    ("subscribe with a list payload", True, subscribe([EVENTS])),
    ("subscribe without query", True, subscribe({})),
    ("subscribe with a numeric query", True, subscribe({"query": 5})),
    ("subscribe with a syntax error", True, subscribe({"query": "subscription {"})),
    (
        "subscribe to a field that does not exist",
        True,
        subscribe({"query": "subscription { nope }"}),
    ),
    ("subscribe with a query operation", True, subscribe({"query": "{ __typename }"})),
    ("subscribe with variables as a list", True, subscribe({"query": EVENTS, "variables": [1]})),
    ("subscribe with a numeric id", True, subscribe({"query": EVENTS}, op_id=5)),
    ("subscribe without id", True, subscribe({"query": EVENTS}, op_id=None)),
    ("subscribe with an object id", True, subscribe({"query": EVENTS}, op_id={"a": 1})),
    (
        "subscribe twice with one id",
        True,
        twice(subscribe({"query": EVENTS}), subscribe({"query": EVENTS})),
    ),
    ("a JSON list as message", True, text("[1, 2]")),
    ("a JSON string as message", True, text('"subscribe"')),
    ("a JSON number as message", True, text("42")),
    ("null as message", True, text("null")),
    ("not JSON", True, text("not json {")),
    ("an empty message", True, text("")),
    ("a binary frame", True, raw(b"\x00\xff")),
    ("unknown type", True, text('{"type": "frobnicate"}')),
    ("no type", True, text('{"id": "1"}')),
    ("type null", True, text('{"type": null}')),
    ("subscribe before init", False, subscribe({"query": EVENTS})),
    ("init twice", True, text('{"type": "connection_init"}')),
    ("init with a list payload", False, text('{"type": "connection_init", "payload": [1]}')),
    ("init with a string payload", False, text('{"type": "connection_init", "payload": "x"}')),
    ("complete for an unknown id", True, text('{"type": "complete", "id": "nope"}')),
    ("deep JSON message", True, text("[" * 100_000 + "]" * 100_000)),
    (
        "huge integer in variables",
        True,
        text(
            encode(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": EVENTS, "variables": {"n": Raw.number("9" * 4_301)}},
                }
            ).decode()
        ),
    ),
    (
        "surrogate in the query",
        True,
        subscribe({"query": "subscription { events { id } } # \ud800"}),
    ),
    ("oversized subscribe (2 MB)", True, subscribe({"query": EVENTS + " " * 2_000_000})),
]


def judge(messages: list[dict[str, Any]]) -> str | None:
    """Why an operation's messages break the property, or None: an internal
    error, or a `complete` that came with no result and no error."""
    answered = False
    for message in messages:
        kind = message.get("type")
        if kind == "next":
            problem = internal_error(message.get("payload"))
            if problem:
                return problem
            answered = True
        elif kind == "error":
            problem = internal_error({"errors": message.get("payload")})
            if problem:
                return problem
            answered = True
        elif kind == "complete" and not answered:
            return "only `complete`, no `error`"
    return None


def drain(client: GraphQLWebSocket, op_id: str) -> list[dict[str, Any]]:
    queue = client._queues[op_id]
    messages = []
    while not queue.empty():
        messages.append(queue.get_nowait())
    return messages


async def reaction(client: GraphQLWebSocket, op_ids: list[str], silence_ok: bool) -> str | None:
    """Why the server's reaction breaks the property, or None."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ANSWER_WITHIN
    seen: dict[str, list[dict[str, Any]]] = {op_id: [] for op_id in op_ids}
    while loop.time() < deadline:
        for op_id in op_ids:
            seen[op_id] += drain(client, op_id)
            problem = judge(seen[op_id])
            if problem:
                return problem
            if any(m.get("type") in ("error", "complete") for m in seen[op_id]):
                return None
        if client.closed.is_set():
            code = client.close_code
            if code is None:
                return f"dropped without a close frame ({client.close_reason})"
            if code not in PROPER_CLOSES:
                return f"closed with {code} {client.close_reason!r}"
            return None
        await asyncio.sleep(0.02)
    if silence_ok or any(seen.values()):
        return None
    return f"no error and no close within {ANSWER_WITHIN} s"


@pytest.mark.parametrize(
    ("label", "initialised", "send"), MESSAGES, ids=[label for label, _, _ in MESSAGES]
)
async def test_malformed_messages_get_an_error_or_a_close_code(
    target: FuzzTarget, label: str, initialised: bool, send: Send
) -> None:
    target.mark_log()
    async with connect(target.server, init=initialised) as client:
        await send(client)
        problem = await reaction(client, ["1", "5", "None"], label in SILENCE_OK)
    assert problem is None, f"{label}: {problem}{target.new_exception()}"


BAD_ARGUMENTS = {
    "nul": text_values("\x00", "\x00"),
    "lone_surrogate": text_values("\ud800", "\udfff"),
    "calendar_ends": calendar_ends,
}


@pytest.mark.parametrize("bad_class", list(BAD_ARGUMENTS))
async def test_bad_values_in_subscription_arguments_are_typed_errors(
    target: FuzzTarget, bad_class: str
) -> None:
    """All at once on one socket (one operation per place and value), then an
    event, so that subscriptions that were accepted also run."""
    schema = await target.schema()
    operations: dict[str, tuple[Leaf, Any]] = {}
    target.mark_log()
    failures: list[str] = []
    async with connect(target.server) as client:
        for leaf in leaves(schema, "subscription"):
            for bad in BAD_ARGUMENTS[bad_class](leaf):
                values = arguments(schema, leaf, bad, target.history)
                query, variables = document(schema, leaf, values, inline=False)
                op_id = f"op{len(operations)}"
                operations[op_id] = (leaf, bad)
                await client.ws.send_text(
                    encode(
                        {
                            "id": op_id,
                            "type": "subscribe",
                            "payload": {"query": query, "variables": variables},
                        }
                    ).decode()
                )
        await asyncio.sleep(0.5)
        await target.server.arrive("Trigger")
        await asyncio.sleep(1.5)
        for op_id, (leaf, bad) in operations.items():
            problem = judge(drain(client, op_id))
            if problem:
                failures.append(f"{leaf} = {bad!r}: {problem}")
        if client.closed.is_set():
            failures.append(f"the socket closed: {client.close_code} {client.close_reason!r}")
    assert operations
    assert not failures, (
        f"{len(failures)} of {len(operations)} faulted{target.new_exception()}:\n"
        + "\n".join(failures)
    )
