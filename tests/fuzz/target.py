"""The fuzz tests' view of a live server: requests as raw bytes (so that a
test can send what no well-behaved client would), the property every answer
must have, and a small history for fuzzed arguments to name."""

from __future__ import annotations

import json
import re
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
    _log_mark: int = 0
    _schema: GraphQLSchema | None = None
    cache: dict[Any, Any] = field(default_factory=dict)

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
        headers = {"Content-Type": content_type, "Accept": "application/json"}
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

    def fault(self, response: httpx.Response) -> str | None:
        """Why this answer breaks the property (no 5xx, no internal error),
        with the server's last traceback; None when it holds."""
        problem = server_fault(response)
        if problem is None:
            return None
        return f"{problem}{self.new_exception()}"

    def mark_log(self) -> None:
        """From here on, new_exception() looks at the server's log."""
        self._log_mark = self.server.log_path.stat().st_size

    def new_exception(self) -> str:
        """'; server: <the last exception line logged since mark_log()>'."""
        with self.server.log_path.open("rb") as log:
            log.seek(self._log_mark)
            text = log.read().decode(errors="replace")
        found = _EXCEPTION_LINE.findall(text)
        return f"; server: {found[-1][:240]}" if found else ""


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
            return f"{INTERNAL} at {error.get('path')}: {json.dumps(error)[:200]}"
    return None


_EXCEPTION_LINE = re.compile(r"^(\w+(?:\.\w+)*(?:Error|Exception|Exit)\b.*)$", re.MULTILINE)


def new_uuid() -> str:
    return str(uuid.uuid4())
