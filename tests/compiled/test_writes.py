"""Compiled mutations: one statement appends the event and renders the
payload, byte for byte as strawberry renders the same stored event; rule
violations, early checks and anything unsupported are strawberry's."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from graphql_petstore.app import create_app
from graphql_petstore.settings import Settings
from tests.api.slow_database import until
from tests.api.store import CONCRETE_EVENT_FIELDS, MUTATIONS, Store, event_count
from tests.compiled.conftest import Twin
from tests.conftest import API_TOKEN

PAYLOAD = f"""
  __typename
  event {{ __typename id type petId petVersion createdAt metadata cursor actor requestId
          correlationId causationId {CONCRETE_EVENT_FIELDS} pet {{ id version status }} }}
  pet {{ __typename id name species price status customerId motherId version lastEventId
        createdAt updatedAt }}
  userErrors {{ code message field }}
"""
# Nothing of the pet: the INSERT renders it in its RETURNING (compiled/operations.py).
EVENT_PAYLOAD = f"""
  event {{ __typename id type petId petVersion createdAt metadata cursor actor requestId
          correlationId causationId {CONCRETE_EVENT_FIELDS} }}
  consistencyToken
  userErrors {{ code }}
"""


class RenderStored:
    """strawberry alone, told (as the compiled path tells it when it cannot
    render a payload itself) that the request's event is stored already."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.event_id: uuid.UUID | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.event_id is not None:
            scope.setdefault("state", {})["appended_event_id"] = self.event_id
        await self.app(scope, receive, send)


@pytest_asyncio.fixture(loop_scope="session")
async def reference(settings: Settings, api_database_url: str) -> AsyncIterator[tuple[Any, Any]]:
    app = create_app(dataclasses.replace(settings, compiled_operations=False), api_database_url)
    render = RenderStored(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=render)
        async with httpx.AsyncClient(transport=transport, base_url="http://petstore.test") as http:
            yield http, render


async def _post(http: httpx.AsyncClient, document: str, variables: dict[str, Any]) -> bytes:
    response = await http.post(
        "/graphql",
        json={"query": document, "variables": variables},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert response.status_code == 200
    return response.content


def _document(field: str, payload: str = PAYLOAD) -> str:
    return f"mutation($input: {MUTATIONS[field]}!) {{ {field}(input: $input) {{ {payload} }} }}"


@pytest.mark.parametrize("payload", [PAYLOAD, EVENT_PAYLOAD], ids=["with the pet", "event only"])
async def test_each_mutation_renders_its_payload_as_strawberry_does(
    twin: Twin, store: Store, reference: tuple[httpx.AsyncClient, RenderStored], payload: str
) -> None:
    http, render = reference
    mom = (await store.arrive(name="Mom"))["pet"]["id"]
    kit = (await store.birth(mom, name="Kit"))["pet"]["id"]
    correlation = str(uuid.uuid4())
    inputs: list[tuple[str, dict[str, Any]]] = [
        (
            "recordPetArrival",
            {
                "name": " Émile\t",
                "species": "Dog",
                "price": "12.30",
                "metadata": {"note": 'ünïcode "q"', "n": 1.5},
            },
        ),
        (
            "recordPetBirth",
            {"motherId": mom, "name": "Kat", "price": "1.00", "correlationId": correlation},
        ),
        ("changePetPrice", {"petId": kit, "newPrice": "99.99", "causationId": correlation}),
        (
            "reportPetLost",
            {"petId": kit, "lastSeenLocation": "by the\nriver", "lostDate": "2026-01-01"},
        ),
        ("reportPetFound", {"petId": kit, "foundDate": "2026-02-01"}),
        ("reportPetLost", {"petId": kit, "expectedVersion": 4}),
        ("reportPetFound", {"petId": kit}),
        (
            "sellPet",
            {
                "petId": kit,
                "customerId": str(uuid.uuid4()),
                "salePrice": "5.00",
                "idempotencyKey": "sale-1",
            },
        ),
    ]
    for field, given in inputs:
        before = twin.endpoint.answered
        document = _document(field, payload)
        compiled = await _post(twin.compiled, document, {"input": given})
        assert twin.endpoint.answered == before + 1, compiled
        answer = json.loads(compiled)["data"][field]
        assert answer["userErrors"] == [], answer
        render.event_id = uuid.UUID(answer["event"]["id"])
        assert await _post(http, document, {"input": given}) == compiled


async def test_a_retry_with_the_idempotency_key_returns_the_first_event(
    twin: Twin, store: Store, conn: asyncpg.Connection
) -> None:
    pet = (await store.arrive())["pet"]["id"]
    given = {"petId": pet, "newPrice": "7.00", "idempotencyKey": "retry-me"}
    first = await _post(twin.compiled, _document("changePetPrice"), {"input": given})
    count = await event_count(conn)
    again = await _post(twin.compiled, _document("changePetPrice"), {"input": given})
    assert await event_count(conn) == count
    assert json.loads(again)["data"] == json.loads(first)["data"]
    other = {**given, "newPrice": "8.00"}
    reused = json.loads(await _post(twin.compiled, _document("changePetPrice"), {"input": other}))
    [error] = reused["data"]["changePetPrice"]["userErrors"]
    assert error["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize(
    ("what", "field", "given"),
    [
        (
            "a rule",
            "sellPet",
            {
                "petId": "00000000-0000-7000-8000-000000000000",
                "customerId": str(uuid.uuid4()),
                "salePrice": "1.00",
            },
        ),
        ("an early check", "recordPetArrival", {"name": " ", "species": "Cat", "price": "-1"}),
        ("a version", "changePetPrice", {"petId": "PET", "newPrice": "2.00", "expectedVersion": 9}),
    ],
)
async def test_refused_events_are_reported_by_strawberry_and_nothing_is_stored(
    twin: Twin, store: Store, conn: asyncpg.Connection, what: str, field: str, given: Any
) -> None:
    pet = (await store.arrive())["pet"]["id"]
    given = {k: (pet if v == "PET" else v) for k, v in given.items()}
    count = await event_count(conn)
    before = twin.endpoint.answered
    payload = json.loads(await _post(twin.compiled, _document(field), {"input": given}))
    assert twin.endpoint.answered == before
    assert payload["data"][field]["event"] is None
    assert payload["data"][field]["userErrors"], payload
    assert await event_count(conn) == count


@pytest.mark.parametrize(
    ("what", "document"),
    [
        (
            "relations in the payload",
            'mutation { recordPetArrival(input: {name: "A", species: "Cat", price: "1"}) '
            "{ pet { offspring { id } } } }",
        ),
        (
            "two mutations in one document",
            'mutation { a: recordPetArrival(input: {name: "A", species: "Cat", price: "1"}) '
            '{ pet { id } } b: recordPetArrival(input: {name: "B", species: "Cat", price: "1"}) '
            "{ pet { id } } }",
        ),
    ],
)
async def test_what_it_does_not_compile_is_stored_once_by_strawberry(
    twin: Twin, conn: asyncpg.Connection, what: str, document: str
) -> None:
    count = await event_count(conn)
    before = twin.endpoint.answered
    result = json.loads(await _post(twin.compiled, document, {}))
    assert "errors" not in result, result
    assert twin.endpoint.answered == before
    assert await event_count(conn) == count + (2 if "two" in what else 1)


async def test_a_write_without_a_token_is_refused_by_strawberry(twin: Twin) -> None:
    document = (
        'mutation { recordPetArrival(input: {name: "A", species: "Cat", price: "1"}) '
        "{ pet { id } } }"
    )
    answers = await twin.ask(document)
    assert answers.same_but_request_ids
    assert not answers.answered_by_compiled
    assert b"UNAUTHENTICATED" in answers.compiled


async def test_a_stored_event_it_cannot_render_is_rendered_by_strawberry_not_stored_again(
    twin: Twin, store: Store, conn: asyncpg.Connection
) -> None:
    # A correlation id the client hid in metadata, in a form Python reads
    # but PostgreSQL would print otherwise: the compiled payload is unusual.
    pet = (await store.arrive())["pet"]["id"]
    count = await event_count(conn)
    given = {
        "petId": pet,
        "newPrice": "3.00",
        "metadata": {"correlationId": "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}"},
    }
    document = (
        "mutation($input: ChangePetPriceInput!) { changePetPrice(input: $input) "
        "{ event { id correlationId } pet { price version } userErrors { code } } }"
    )
    before = twin.endpoint.answered
    payload = json.loads(await _post(twin.compiled, document, {"input": given}))
    assert twin.endpoint.answered == before
    assert await event_count(conn) == count + 1
    result = payload["data"]["changePetPrice"]
    assert result["event"]["correlationId"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert result["pet"] == {"price": "3.00", "version": 2}
    stored = await conn.fetchval("select id::text from pet_event_log order by seq desc limit 1")
    assert result["event"]["id"] == stored


async def test_a_pet_another_writer_moved_on_meanwhile_is_rendered_by_strawberry(
    twin: Twin, store: Store, conn: asyncpg.Connection, database_url: str
) -> None:
    # The INSERT's statement renders the pet from the pet it saw before the
    # INSERT. Here another writer's event, uncommitted, holds the pet's lock
    # when that statement starts: the pet it saw is then two versions behind
    # the one its event leaves, and strawberry renders the stored event.
    pet = (await store.arrive(price="1.00"))["pet"]["id"]
    document = (
        "mutation($input: ChangePetPriceInput!) { changePetPrice(input: $input) "
        "{ event { id petVersion } pet { price version } userErrors { code } } }"
    )
    observer = await asyncpg.connect(database_url)
    try:
        count = await event_count(conn)
        before = twin.endpoint.answered
        async with conn.transaction():
            await conn.execute(
                "insert into pet_price_change_events (pet_id, new_price) values ($1, 2.00)",
                uuid.UUID(pet),
            )
            answer = asyncio.ensure_future(
                _post(twin.compiled, document, {"input": {"petId": pet, "newPrice": "3.00"}})
            )
            await until(observer, 1)
        payload = json.loads(await answer)
    finally:
        await observer.close()
    result = payload["data"]["changePetPrice"]
    assert result["event"]["petVersion"] == 3, payload
    assert result["pet"] == {"price": "3.00", "version": 3}
    assert await event_count(conn) == count + 2  # the other writer's and this one, once
    assert twin.endpoint.answered == before  # the compiled path could not render it
