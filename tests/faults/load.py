"""Concurrent writers, and what became of each of their requests.

Most requests are recordPetArrivals whose petId the client chose, so their
outcome can be read from the database afterwards: the pet exists or not.
Every fourth is a changePetPrice of a pet the writer saw arrive, whose event
carries the request's own id in its metadata. Each request also carries an
idempotencyKey, so that one whose outcome the client could not know can be
retried safely once the fault is over.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tests.faults.serve import TOKEN

ARRIVE = """
mutation Arrive($input: RecordPetArrivalInput!) {
  recordPetArrival(input: $input) { event { id } pet { id } userErrors { code message } }
}
"""
CHANGE_PRICE = """
mutation ChangePrice($input: ChangePetPriceInput!) {
  changePetPrice(input: $input) { event { id } pet { id } userErrors { code message } }
}
"""
PRICE_CHANGE_EVERY = 4
# The server says so when a write's outcome is unknown to it too.
OUTCOME_UNKNOWN = "APPEND_OUTCOME_UNKNOWN"
# What a masked failure or a non-GraphQL answer is counted as.
UNTYPED = ("INTERNAL_SERVER_ERROR", "NO_CODE", "NOT_GRAPHQL")
PAUSE_AFTER_ERROR = 0.2
REQUEST_TIMEOUT = 30.0  # past the server's own settle timeout

# What the client learnt about one request.
ACKNOWLEDGED = "acknowledged"  # a success payload with its pet
FAILED = "reported failed"  # an error response or a userError
UNKNOWN = "unknown"  # reset, timeout, or the server's APPEND_OUTCOME_UNKNOWN
NOT_SENT = "not sent"  # the client could not connect at all


@dataclass(frozen=True)
class Write:
    """One request, as sent and as sent again."""

    key: str  # the request's id: its idempotencyKey, and the new pet's id
    field: str  # recordPetArrival or changePetPrice
    pet_id: str
    price: str = "10.00"

    def body(self) -> dict[str, Any]:
        common = {"idempotencyKey": self.key, "metadata": {"attempt": self.key}}
        if self.field == "recordPetArrival":
            name = f"Pet {self.key[:8]}"
            fields = {"petId": self.pet_id, "name": name, "species": "Cat", "price": self.price}
            return {"query": ARRIVE, "variables": {"input": {**fields, **common}}}
        fields = {"petId": self.pet_id, "newPrice": self.price}
        return {"query": CHANGE_PRICE, "variables": {"input": {**fields, **common}}}


@dataclass
class Attempt:
    write: Write
    outcome: str
    code: str = ""  # the error's extensions.code, a userError's code, or the transport error
    detail: str = ""
    event_id: str | None = None  # given with APPEND_OUTCOME_UNKNOWN


@dataclass
class Tally:
    attempts: int
    acknowledged: int
    lost: list[Attempt]  # acknowledged, not stored
    reported_failed: int
    stored_but_reported_failed: list[Attempt]
    unknown: int
    unknown_stored: int
    not_sent: int
    not_sent_but_stored: list[Attempt]
    codes: Counter[str]  # of every error response, by code
    untyped: list[Attempt]  # failures without a typed, documented code
    retried: int = 0  # unknown outcomes retried with their idempotencyKey afterwards
    # Appends whose connection broke while out, as the server's log tells,
    # and how many of them it found stored.
    settled: int = 0
    settled_stored: int = 0

    def line(self, scenario: str) -> str:
        codes = ", ".join(f"{code} {n}" for code, n in sorted(self.codes.items())) or "none"
        return (
            f"{scenario}: {self.attempts} requests, {self.acknowledged} acknowledged, "
            f"{len(self.lost)} lost, {self.reported_failed} reported failed of which "
            f"{len(self.stored_but_reported_failed)} stored, {self.unknown} unknown "
            f"({self.unknown_stored} stored; {self.retried} retried with their key), "
            f"{self.not_sent} not sent; errors by code: {codes}; "
            f"server settled {self.settled} broken appends ({self.settled_stored} stored)"
        )


@dataclass
class Load:
    url: str
    writers: int = 16
    attempts: list[Attempt] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def acknowledged(self) -> int:
        return sum(1 for attempt in self.attempts if attempt.outcome == ACKNOWLEDGED)

    async def run(self) -> None:
        """Writes until stop(); each writer finishes the request it has out."""
        async with _client(self.writers) as client:
            await asyncio.gather(*(self._writer(client) for _ in range(self.writers)))

    def stop(self) -> None:
        self._stop.set()

    async def _writer(self, client: httpx.AsyncClient) -> None:
        arrived: list[str] = []  # pets this writer saw acknowledged
        for turn in itertools.count(1):
            if self._stop.is_set():
                return
            key = str(uuid.uuid4())
            if arrived and turn % PRICE_CHANGE_EVERY == 0:
                price = f"{random.randint(1, 999)}.00"
                write = Write(key, "changePetPrice", random.choice(arrived), price)
            else:
                write = Write(key, "recordPetArrival", key)
            attempt = await send(client, self.url, write)
            self.attempts.append(attempt)
            if attempt.outcome != ACKNOWLEDGED:
                await asyncio.sleep(PAUSE_AFTER_ERROR)
            elif write.field == "recordPetArrival":
                arrived.append(write.pet_id)

    async def retry_unknown(self) -> int:
        """Sends every request whose outcome was unknown again, with the same
        idempotencyKey: each must now be acknowledged (stored once)."""
        unknown = [a for a in self.attempts if a.outcome == UNKNOWN]
        async with _client(self.writers) as client:
            retries = await asyncio.gather(*(send(client, self.url, a.write) for a in unknown))
        refused = [r for r in retries if r.outcome != ACKNOWLEDGED]
        assert not refused, f"retries with the same key not acknowledged: {refused[:5]}"
        return len(unknown)

    async def tally(self, database_url: str) -> Tally:
        present = await stored_writes(database_url, [a.write for a in self.attempts])
        by = {
            outcome: [a for a in self.attempts if a.outcome == outcome]
            for outcome in (ACKNOWLEDGED, FAILED, UNKNOWN, NOT_SENT)
        }
        errors = [a for a in self.attempts if a.outcome in (FAILED, UNKNOWN) and a.code]
        return Tally(
            attempts=len(self.attempts),
            acknowledged=len(by[ACKNOWLEDGED]),
            lost=[a for a in by[ACKNOWLEDGED] if a.write.key not in present],
            reported_failed=len(by[FAILED]),
            stored_but_reported_failed=[a for a in by[FAILED] if a.write.key in present],
            unknown=len(by[UNKNOWN]),
            unknown_stored=sum(1 for a in by[UNKNOWN] if a.write.key in present),
            not_sent=len(by[NOT_SENT]),
            not_sent_but_stored=[a for a in by[NOT_SENT] if a.write.key in present],
            codes=Counter(a.code for a in errors if not a.code.startswith("transport:")),
            untyped=[a for a in errors if a.code in UNTYPED or a.code.startswith("HTTP ")],
        )


def _client(connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=5.0),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


async def send(client: httpx.AsyncClient, url: str, write: Write) -> Attempt:
    try:
        response = await client.post(f"{url}/graphql", json=write.body())
    except httpx.ConnectError as exc:
        return Attempt(write, NOT_SENT, f"transport:{type(exc).__name__}", str(exc))
    except httpx.TransportError as exc:
        # Reset, closed, or timed out with the request out: the client
        # cannot know what happened.
        return Attempt(write, UNKNOWN, f"transport:{type(exc).__name__}", str(exc))
    return _outcome(write, response)


def _outcome(write: Write, response: httpx.Response) -> Attempt:
    try:
        body: Any = response.json()
    except ValueError:
        return Attempt(write, FAILED, f"HTTP {response.status_code}", response.text[:300])
    if not isinstance(body, dict):
        return Attempt(write, FAILED, "NOT_GRAPHQL", response.text[:300])
    errors = body.get("errors")
    if errors:
        extensions = [error.get("extensions") or {} for error in errors]
        codes = [extension.get("code") or "NO_CODE" for extension in extensions]
        if codes == [OUTCOME_UNKNOWN]:
            event_id = extensions[0].get("eventId")
            return Attempt(write, UNKNOWN, OUTCOME_UNKNOWN, str(errors)[:300], event_id)
        return Attempt(write, FAILED, codes[0], str(errors)[:300])
    payload = (body.get("data") or {}).get(write.field) or {}
    if payload.get("userErrors"):
        return Attempt(write, FAILED, payload["userErrors"][0]["code"], str(payload)[:300])
    if (payload.get("pet") or {}).get("id") == write.pet_id:
        return Attempt(write, ACKNOWLEDGED)
    return Attempt(write, FAILED, "NOT_GRAPHQL", response.text[:300])


async def stored_writes(database_url: str, writes: list[Write]) -> set[str]:
    """The keys of the writes that are stored: an arrival by its pet (as the
    read model has it), a price change by the request id in its metadata."""
    arrivals = [w.key for w in writes if w.field == "recordPetArrival"]
    changes = [w.key for w in writes if w.field == "changePetPrice"]
    conn = await asyncpg.connect(database_url)
    try:
        pets = await conn.fetch(
            "select id::text as key from pets where id = any($1::uuid[])", arrivals
        )
        events = await conn.fetch(
            "select metadata->>'attempt' as key from pet_price_change_events"
            " where metadata->>'attempt' = any($1::text[])",
            changes,
        )
    finally:
        await conn.close()
    return {row["key"] for row in [*pets, *events]}


async def stored_events(database_url: str, event_ids: list[str]) -> set[str]:
    """The request ids (metadata) of those of these events that are stored."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "select metadata->>'attempt' as key from events where id = any($1::uuid[])",
            event_ids,
        )
    finally:
        await conn.close()
    return {row["key"] for row in rows}
