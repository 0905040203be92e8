"""The fuzz tests' view of a live server: requests as raw bytes (so that a
test can send what no well-behaved client would), the property every answer
must have, and a small history for fuzzed arguments to name."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from graphql import GraphQLSchema, build_client_schema, get_introspection_query

from tests.subscriptions.support import API_TOKEN, Server

INTERNAL = "INTERNAL_SERVER_ERROR"
BIRTH = """
mutation($input: RecordPetBirthInput!) {
  recordPetBirth(input: $input) { pet { id } userErrors { code message } }
}
"""
LOST = """
mutation($input: ReportPetLostInput!) {
  reportPetLost(input: $input) { event { id } userErrors { code message } }
}
"""
FOUND = """
mutation($input: ReportPetFoundInput!) {
  reportPetFound(input: $input) { event { id } userErrors { code message } }
}
"""
HISTORY = """
query($after: String) {
  events(first: 100, after: $after) {
    nodes { id petId cursor createdAt }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@dataclass
class History:
    pet_ids: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)
    instants: list[str] = field(default_factory=list)


async def seed_history(server: Server) -> History:
    """Pets in every status, a mother with kits, a few price changes."""
    mother = await server.arrive("Mother", "40.00")
    pets = [mother] + [await server.arrive(f"Pet {n}", f"{n}.50") for n in range(5)]
    for n in range(2):
        payload = await server.write(
            BIRTH, {"motherId": mother, "name": f"Kit {n}", "price": "5.00"}
        )
        pets.append(payload["pet"]["id"])
    await server.change_price(pets[1], "12.25")
    await server.sell(pets[2], "30.00")
    await server.write(LOST, {"petId": pets[3], "lastSeenLocation": "by the pond"})
    await server.write(LOST, {"petId": pets[4]})
    await server.write(FOUND, {"petId": pets[4], "foundLocation": "shed"})
    history = History(pet_ids=pets)
    after: str | None = None
    while True:
        data = await server.graphql(HISTORY, {"after": after})
        for node in data["events"]["nodes"]:
            history.event_ids.append(node["id"])
            history.cursors.append(node["cursor"])
            history.instants.append(node["createdAt"])
        if not data["events"]["pageInfo"]["hasNextPage"]:
            return history
        after = data["events"]["pageInfo"]["endCursor"]


def json_body(payload: Any) -> bytes:
    """JSON as a client that escapes everything would send it: a lone
    surrogate becomes a \\ud800 escape (valid JSON, not valid Unicode)."""
    return json.dumps(payload, ensure_ascii=True).encode("ascii")


@dataclass
class FuzzTarget:
    server: Server
    database_url: str
    history: History = field(default_factory=History)
    cache: dict[Any, Any] = field(default_factory=dict)
    _log_mark: int = 0
    _schema: GraphQLSchema | None = None

    async def schema(self) -> GraphQLSchema:
        """The live schema, as the running server tells it by introspection."""
        if self._schema is None:
            response = await self.graphql(get_introspection_query())
            assert response.status_code == 200, response.text
            self._schema = build_client_schema(response.json()["data"])
        return self._schema

    @property
    def http(self) -> httpx.AsyncClient:
        return self.server.http

    async def post(
        self,
        body: bytes,
        *,
        token: bool = False,
        content_type: str = "application/json",
    ) -> httpx.Response:
        # A connection of its own: an exception after the answer (which
        # resets the connection) then shows on this request, not the next.
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        headers["Connection"] = "close"
        if token:
            headers["Authorization"] = f"Bearer {API_TOKEN}"
        self.mark_log()
        return await self.http.post("/graphql", content=body, headers=headers)

    async def graphql(
        self, document: str, variables: dict[str, Any] | None = None, *, token: bool = False
    ) -> httpx.Response:
        payload: dict[str, Any] = {"query": document}
        if variables is not None:
            payload["variables"] = variables
        return await self.post(json_body(payload), token=token)

    async def probe(
        self, body: bytes, *, token: bool = True, content_type: str = "application/json"
    ) -> str | None:
        """Sends `body`; why the exchange breaks the property, or None."""
        try:
            response = await self.post(body, token=token, content_type=content_type)
        except httpx.TransportError as exc:
            await asyncio.sleep(0.05)
            return f"no answer ({type(exc).__name__}: {exc}){self.new_exception()}"
        return await self.fault(response)

    async def fault(self, response: httpx.Response) -> str | None:
        """Why this answer breaks the property (a 5xx, an internal error, or
        an exception that escaped the app after it answered), with the
        server's exception; None when it holds."""
        log = await self._settled_log(response.headers.get("x-request-id"))
        problem = server_fault(response)
        if problem is None and ESCAPED in log:
            problem = f"HTTP {response.status_code}, then an exception escaped the app"
        if problem is None:
            return None
        return f"{problem}{self.new_exception()}"

    def mark_log(self) -> None:
        """From here on, new_log() and new_exception() read the server's log."""
        self._log_mark = self.server.log_path.stat().st_size

    def new_log(self) -> str:
        with self.server.log_path.open("rb") as log:
            log.seek(self._log_mark)
            return log.read().decode(errors="replace")

    def new_exception(self) -> str:
        """'; server: <the last exception logged since mark_log()>'."""
        found = exception_lines(self.new_log())
        return f"; server: {found[-1][:240]}" if found else ""

    async def _settled_log(self, request_id: str | None) -> str:
        """The log since the request, once its access line (or an escaped
        exception) is in it: both are written after the answer is sent, so an
        exception then is blamed on this request, not the next."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            log = self.new_log()
            done = ESCAPED in log or any(
                ACCESS_LOGGER in line and f'"{request_id}"' in line for line in log.splitlines()
            )
            if done or request_id is None or time.monotonic() > deadline:
                return log
            await asyncio.sleep(0.002)


ESCAPED = "Exception in ASGI application"
# The request's last words: its access line (written after the answer).
ACCESS_LOGGER = "graphql_petstore.access"
SETTLE_TIMEOUT = 2.0
_EXCEPTION_LINE = re.compile(r"^(\w+(?:\.\w+)*(?:Error|Exception|Exit)\b.*)$")


def exception_lines(log: str) -> list[str]:
    """The last line of each traceback in the server's log (JSON lines or text)."""
    found: list[str] = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            texts = [line]
        else:
            texts = [str(v) for v in record.values()] if isinstance(record, dict) else []
        for text in texts:
            for candidate in text.splitlines():
                match = _EXCEPTION_LINE.match(candidate.strip())
                if match:
                    found.append(match.group(1))
    return found


def server_fault(response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return f"HTTP {response.status_code}: {response.text[:200]!r}"
    try:
        body = response.json()
    except ValueError:
        return None  # a 4xx in plain text is the client's fault, clearly said
    return internal_error(body)


def internal_error(body: Any) -> str | None:
    """The first masked internal error in a GraphQL result, if any."""
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or []:
        code = (error.get("extensions") or {}).get("code")
        if code == INTERNAL or error.get("message") == "internal error":
            return f"{INTERNAL} at {error.get('path')}"
    return None


def new_uuid() -> str:
    return str(uuid.uuid4())
