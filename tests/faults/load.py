"""Concurrent writers, and what became of each of their requests.

Every request is a recordPetArrival whose petId the client chose, so its
outcome can be read from the database afterwards: the pet exists or not.
Each also carries an idempotencyKey, so that a request whose outcome the
client could not know can be retried safely once the fault is over.
"""

from __future__ import annotations

import asyncio
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


@dataclass
class Attempt:
    pet_id: str
    outcome: str
    code: str = ""  # the error's extensions.code, a userError's code, or the transport error
    detail: str = ""
    event_id: str | None = None  # given with APPEND_OUTCOME_UNKNOWN


@dataclass
class Tally:
    attempts: int
    acknowledged: int
    lost: list[Attempt]  # acknowledged, pet absent
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
        while not self._stop.is_set():
            pet_id = str(uuid.uuid4())
            attempt = await arrive(client, self.url, pet_id)
            self.attempts.append(attempt)
            if attempt.outcome != ACKNOWLEDGED:
                await asyncio.sleep(PAUSE_AFTER_ERROR)

    async def retry_unknown(self) -> int:
        """Sends every request whose outcome was unknown again, with the same
        idempotencyKey: each must now be acknowledged (stored once)."""
        unknown = [a for a in self.attempts if a.outcome == UNKNOWN]
        async with _client(self.writers) as client:
            retries = await asyncio.gather(*(arrive(client, self.url, a.pet_id) for a in unknown))
        refused = [r for r in retries if r.outcome != ACKNOWLEDGED]
        assert not refused, f"retries with the same key not acknowledged: {refused[:5]}"
        return len(unknown)

    async def tally(self, database_url: str) -> Tally:
        present = await stored_pets(database_url, [a.pet_id for a in self.attempts])
        by = {
            outcome: [a for a in self.attempts if a.outcome == outcome]
            for outcome in (ACKNOWLEDGED, FAILED, UNKNOWN, NOT_SENT)
        }
        errors = [a for a in self.attempts if a.outcome in (FAILED, UNKNOWN) and a.code]
        return Tally(
            attempts=len(self.attempts),
            acknowledged=len(by[ACKNOWLEDGED]),
            lost=[a for a in by[ACKNOWLEDGED] if a.pet_id not in present],
            reported_failed=len(by[FAILED]),
            stored_but_reported_failed=[a for a in by[FAILED] if a.pet_id in present],
            unknown=len(by[UNKNOWN]),
            unknown_stored=sum(1 for a in by[UNKNOWN] if a.pet_id in present),
            not_sent=len(by[NOT_SENT]),
            not_sent_but_stored=[a for a in by[NOT_SENT] if a.pet_id in present],
            codes=Counter(a.code for a in errors if not a.code.startswith("transport:")),
            untyped=[a for a in errors if a.code in UNTYPED or a.code.startswith("HTTP ")],
        )


def _client(connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=5.0),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


async def arrive(client: httpx.AsyncClient, url: str, pet_id: str) -> Attempt:
    variables = {
        "input": {
            "petId": pet_id,
            "name": f"Pet {pet_id[:8]}",
            "species": "Cat",
            "price": "10.00",
            "idempotencyKey": pet_id,
        }
    }
    try:
        response = await client.post(
            f"{url}/graphql", json={"query": ARRIVE, "variables": variables}
        )
    except httpx.ConnectError as exc:
        return Attempt(pet_id, NOT_SENT, f"transport:{type(exc).__name__}", str(exc))
    except httpx.TransportError as exc:
        # Reset, closed, or timed out with the request out: the client
        # cannot know what happened.
        return Attempt(pet_id, UNKNOWN, f"transport:{type(exc).__name__}", str(exc))
    return _outcome(pet_id, response)


def _outcome(pet_id: str, response: httpx.Response) -> Attempt:
    try:
        body: Any = response.json()
    except ValueError:
        return Attempt(pet_id, FAILED, f"HTTP {response.status_code}", response.text[:300])
    if not isinstance(body, dict):
        return Attempt(pet_id, FAILED, "NOT_GRAPHQL", response.text[:300])
    errors = body.get("errors")
    if errors:
        extensions = [error.get("extensions") or {} for error in errors]
        codes = [extension.get("code") or "NO_CODE" for extension in extensions]
        if codes == [OUTCOME_UNKNOWN]:
            return Attempt(
                pet_id, UNKNOWN, OUTCOME_UNKNOWN, str(errors)[:300], extensions[0].get("eventId")
            )
        return Attempt(pet_id, FAILED, codes[0], str(errors)[:300])
    payload = (body.get("data") or {}).get("recordPetArrival") or {}
    if payload.get("userErrors"):
        return Attempt(pet_id, FAILED, payload["userErrors"][0]["code"], str(payload)[:300])
    if (payload.get("pet") or {}).get("id") == pet_id:
        return Attempt(pet_id, ACKNOWLEDGED)
    return Attempt(pet_id, FAILED, "NOT_GRAPHQL", response.text[:300])


async def stored_pets(database_url: str, pet_ids: list[str]) -> set[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("select id::text from pets where id = any($1::uuid[])", pet_ids)
    finally:
        await conn.close()
    return {row["id"] for row in rows}


async def stored_events(database_url: str, event_ids: list[str]) -> set[str]:
    """The pet ids of those of these events that are stored."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "select pet_id::text from events where id = any($1::uuid[])", event_ids
        )
    finally:
        await conn.close()
    return {row["pet_id"] for row in rows}
