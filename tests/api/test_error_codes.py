"""The documented error codes: docs/errors.md is generated from
graphql_petstore.error_codes, and every code is triggered here, each by a
request that a client could send (or a database failure it could meet)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from graphql_petstore import error_codes
from graphql_petstore.api.types import ErrorCode
from graphql_petstore.app import create_app
from graphql_petstore.database import appends
from graphql_petstore.settings import Settings
from tests.api.slow_database import PETS, pets_locked, until, warm
from tests.api.store import Store, event_count
from tests.conftest import API_TOKEN, API_TOKEN_NAME

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ARRIVE = (
    'mutation { recordPetArrival(input: {name: "%s", species: "Cat", price: "1.00"}) '
    "{ pet { id } userErrors { code } } }"
)
SLEEPY_TRIGGER = """
create function test_sleep_on_slow() returns trigger language plpgsql as $$
begin
    if new.name = 'Slow' then perform pg_sleep(60); end if;
    return new;
end $$;
create trigger test_sleep before insert on pet_arrived_events
    for each row execute function test_sleep_on_slow();
"""


class Situation:
    """What a trigger may use: the test's database, and clients of an app
    built with the settings it needs."""

    def __init__(self, database_url: str, conn: asyncpg.Connection, tmp_path: Path) -> None:
        self.database_url = database_url
        self.conn = conn
        self.tmp_path = tmp_path

    @contextlib.asynccontextmanager
    async def client(self, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(
            Settings(api_tokens={API_TOKEN: API_TOKEN_NAME}, **settings), self.database_url
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                yield http

    async def post(self, body: dict[str, Any], **settings: Any) -> httpx.Response:
        async with self.client(**settings) as http:
            return await http.post("/graphql", json=body, headers=AUTH)

    async def write_while_the_connection_breaks(self, settle: bool) -> httpx.Response:
        """A write whose connection is terminated while its INSERT runs;
        with settle=False the server cannot learn the outcome either."""
        await self.conn.execute(SLEEPY_TRIGGER)
        async with self.client() as http:
            writing = asyncio.ensure_future(
                http.post("/graphql", json={"query": ARRIVE % "Slow"}, headers=AUTH)
            )
            pid = None
            for _ in range(400):  # until the INSERT sleeps in its trigger
                pid = await self.conn.fetchval(
                    "select pid from pg_stat_activity "
                    "where datname = current_database() and wait_event = 'PgSleep'"
                )
                if pid is not None:
                    break
                await asyncio.sleep(0.05)
            assert pid is not None, "the write never reached the database"
            if not settle:
                await self.conn.execute("drop function petstore_appended(uuid)")
            await self.conn.execute("select pg_terminate_backend($1)", pid)
            return await writing


def _deep(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"mother {{ {inner} }}"
    return f"{{ pets {{ edges {{ node {{ {inner} }} }} }} }}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _persisted_not_found(s: Situation) -> httpx.Response:
    hashed = {"persistedQuery": {"version": 1, "sha256Hash": _sha256("{ __typename }")}}
    return await s.post({"extensions": hashed})


async def _persisted_not_supported(s: Situation) -> httpx.Response:
    hashed = {"persistedQuery": {"version": 1, "sha256Hash": _sha256("{ __typename }")}}
    return await s.post({"extensions": hashed}, persisted_queries=False)


async def _persisted_hash_mismatch(s: Situation) -> httpx.Response:
    hashed = {"persistedQuery": {"version": 1, "sha256Hash": _sha256("{ pets { nodes { id } } }")}}
    return await s.post({"query": "{ __typename }", "extensions": hashed})


async def _persisted_required(s: Situation) -> httpx.Response:
    manifest = s.tmp_path / "manifest.json"
    manifest.write_text(json.dumps({_sha256("{ __typename }"): "{ __typename }"}))
    return await s.post({"query": "{ pets { nodes { id } } }"}, trusted_documents=manifest)


async def _unauthenticated(s: Situation) -> httpx.Response:
    async with s.client() as http:
        return await http.post("/graphql", json={"query": ARRIVE % "Rex"})


async def _forbidden(s: Situation) -> httpx.Response:
    async with s.client() as http:
        return await http.post(
            "/graphql", json={"query": ARRIVE % "Rex"}, headers={"Authorization": "Bearer nope"}
        )


async def _too_large(s: Situation) -> httpx.Response:
    return await s.post(
        {"query": "{ __typename }", "variables": {"x": "y" * 2000}}, max_body_bytes=1000
    )


async def _internal_error(s: Situation) -> httpx.Response:
    await s.conn.execute("alter table pets rename to pets_gone")
    return await s.post({"query": "{ pets { nodes { id } } }"})


async def _outcome_unknown(s: Situation, monkeypatch: pytest.MonkeyPatch) -> httpx.Response:
    # How long the server keeps asking whether the write committed.
    monkeypatch.setattr(appends, "SETTLE_TIMEOUT", 1.0)
    return await s.write_while_the_connection_breaks(settle=False)


async def _busy(s: Situation) -> httpx.Response:
    # One connection, held by a read that waits for the test's lock.
    async with s.client(pool_size=1, pool_timeout=0.3) as http:
        await warm(http, 1)
        async with pets_locked(s.conn):
            blocked = asyncio.ensure_future(http.post("/graphql", json={"query": PETS}))
            await until(s.conn, 1)
            response = await http.post("/graphql", json={"query": PETS})
        await blocked
        return response


async def _slow_read(s: Situation, **settings: Any) -> httpx.Response:
    async with s.client(**settings) as http:
        await warm(http, 1)
        async with pets_locked(s.conn):
            return await http.post("/graphql", json={"query": PETS})


Trigger = Callable[..., Awaitable[httpx.Response]]
TRIGGERS: dict[str, Trigger] = {
    error_codes.GRAPHQL_PARSE_FAILED: lambda s: s.post({"query": "{ pets {"}),
    error_codes.GRAPHQL_VALIDATION_FAILED: lambda s: s.post({"query": "{ pets { edgez } }"}),
    error_codes.BAD_USER_INPUT: lambda s: s.post(
        {"query": "query($id: UUID!) { pet(id: $id) { id } }", "variables": {"id": "xyz"}}
    ),
    error_codes.QUERY_TOO_DEEP: lambda s: s.post({"query": _deep(12)}),
    error_codes.TOO_MANY_ALIASES: lambda s: s.post(
        {"query": "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"}
    ),
    error_codes.TOO_MANY_TOKENS: lambda s: s.post(
        {"query": "{ " + " ".join("__typename" for _ in range(2001)) + " }"}
    ),
    error_codes.QUERY_COST_EXCEEDED: lambda s: s.post(
        {"query": "{ pets(first: 500) { nodes { offspring { offspring { id } } } } }"}
    ),
    error_codes.SUBSCRIPTION_NEEDS_WEBSOCKET: lambda s: s.post(
        {"query": "subscription { events { id } }"}
    ),
    error_codes.PERSISTED_QUERY_NOT_FOUND: _persisted_not_found,
    error_codes.PERSISTED_QUERY_NOT_SUPPORTED: _persisted_not_supported,
    error_codes.PERSISTED_QUERY_HASH_MISMATCH: _persisted_hash_mismatch,
    error_codes.PERSISTED_QUERY_REQUIRED: _persisted_required,
    error_codes.UNAUTHENTICATED: _unauthenticated,
    error_codes.FORBIDDEN: _forbidden,
    error_codes.DATABASE_UNAVAILABLE: lambda s: s.write_while_the_connection_breaks(True),
    error_codes.APPEND_OUTCOME_UNKNOWN: _outcome_unknown,
    error_codes.DATABASE_BUSY: _busy,
    error_codes.STATEMENT_TIMEOUT: lambda s: _slow_read(s, statement_timeout=0.3),
    error_codes.REQUEST_TIMEOUT: lambda s: _slow_read(s, request_timeout=0.3),
    error_codes.PAYLOAD_TOO_LARGE: _too_large,
    error_codes.INTERNAL_SERVER_ERROR: _internal_error,
}


def test_every_documented_code_has_a_trigger() -> None:
    assert set(TRIGGERS) == set(error_codes.BY_NAME)


def test_docs_errors_md_is_generated_from_the_list() -> None:
    assert (ROOT / "docs" / "errors.md").read_text() == error_codes.markdown(), (
        "docs/errors.md is stale: graphql-petstore error-codes > docs/errors.md"
    )


@pytest.mark.parametrize("code", [code.name for code in error_codes.CODES])
async def test_each_documented_code_is_triggered(
    code: str,
    database_url: str,
    conn: asyncpg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trigger = TRIGGERS[code]
    situation = Situation(database_url, conn, tmp_path)
    if trigger is _outcome_unknown:
        response = await _outcome_unknown(situation, monkeypatch)
    else:
        response = await trigger(situation)
    errors = response.json()["errors"]
    assert [error["extensions"]["code"] for error in errors] == [code], response.text
    documented = error_codes.BY_NAME[code]
    assert errors[0]["extensions"].get("retryable", False) is documented.retryable
    assert errors[0]["message"]


# --- userErrors: every ErrorCode of the schema, from a mutation a rule refuses ---

NOWHERE = "018f0000-0000-7000-8000-000000000000"


async def _sold(store: Store) -> str:
    pet_id: str = (await store.arrive(name="Gone"))["pet"]["id"]
    await store.sell(pet_id)
    return pet_id


async def _lost(store: Store) -> str:
    pet_id: str = (await store.arrive(name="Wanderer"))["pet"]["id"]
    await store.lose(pet_id, lostDate="2026-01-10")
    return pet_id


async def _available(store: Store) -> str:
    pet_id: str = (await store.arrive(name="Here", species="Cat"))["pet"]["id"]
    return pet_id


UserErrorTrigger = Callable[[Store], Awaitable[tuple[str, dict[str, Any]]]]
USER_ERROR_TRIGGERS: dict[str, UserErrorTrigger] = {
    "VALIDATION_FAILED": lambda s: _as(
        "recordPetArrival", {"name": "Rex", "species": "Dog", "price": "-1"}
    ),
    "PET_NOT_FOUND": lambda s: _as(
        "sellPet", {"petId": NOWHERE, "customerId": NOWHERE, "salePrice": "1.00"}
    ),
    "PET_ALREADY_EXISTS": lambda s: _then(
        _available(s),
        lambda pet: (
            "recordPetArrival",
            {"petId": pet, "name": "Twin", "species": "Cat", "price": "1"},
        ),
    ),
    "MOTHER_NOT_FOUND": lambda s: _as(
        "recordPetBirth", {"motherId": NOWHERE, "name": "Kit", "price": "1.00"}
    ),
    "MOTHER_NOT_IN_STORE": lambda s: _then(
        _sold(s), lambda pet: ("recordPetBirth", {"motherId": pet, "name": "Kit", "price": "1"})
    ),
    "SPECIES_MISMATCH": lambda s: _then(
        _available(s),
        lambda pet: (
            "recordPetBirth",
            {"motherId": pet, "name": "Pup", "species": "Dog", "price": "1.00"},
        ),
    ),
    "PET_NOT_AVAILABLE": lambda s: _then(
        _lost(s),
        lambda pet: ("sellPet", {"petId": pet, "customerId": NOWHERE, "salePrice": "1.00"}),
    ),
    # Selling a sold pet (sql/0014); a price change of one answers the same.
    "PET_ALREADY_SOLD": lambda s: _then(
        _sold(s),
        lambda pet: ("sellPet", {"petId": pet, "customerId": NOWHERE, "salePrice": "1.00"}),
    ),
    "PET_NOT_LOST": lambda s: _then(_available(s), lambda pet: ("reportPetFound", {"petId": pet})),
    "OLD_PRICE_MISMATCH": lambda s: _then(
        _available(s),
        lambda pet: ("changePetPrice", {"petId": pet, "newPrice": "5.00", "oldPrice": "1.00"}),
    ),
    "FOUND_BEFORE_LOST": lambda s: _then(
        _lost(s), lambda pet: ("reportPetFound", {"petId": pet, "foundDate": "2026-01-01"})
    ),
    "VERSION_CONFLICT": lambda s: _then(
        _available(s),
        lambda pet: ("changePetPrice", {"petId": pet, "newPrice": "5.00", "expectedVersion": 7}),
    ),
    "IDEMPOTENCY_KEY_REUSED": lambda s: _then(
        s.arrive(name="Once", idempotencyKey="key-1"),
        lambda _: (
            "recordPetArrival",
            {"name": "Other", "species": "Cat", "price": "1.00", "idempotencyKey": "key-1"},
        ),
    ),
}


async def _as(field: str, input: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return field, input


async def _then(
    before: Awaitable[Any], build: Callable[[Any], tuple[str, dict[str, Any]]]
) -> tuple[str, dict[str, Any]]:
    return build(await before)


def test_every_user_error_code_of_the_schema_has_a_trigger() -> None:
    assert set(USER_ERROR_TRIGGERS) == {code.value for code in ErrorCode}


@pytest.mark.parametrize("code", [code.value for code in ErrorCode])
async def test_each_user_error_code_is_triggered(
    code: str, store: Store, conn: asyncpg.Connection
) -> None:
    field, input = await USER_ERROR_TRIGGERS[code](store)
    stored = await event_count(conn)
    payload = await store.attempt(field, input)
    assert [error["code"] for error in payload["userErrors"]] == [code], payload
    assert payload["event"] is None
    assert await event_count(conn) == stored, "a refused command stores nothing"
