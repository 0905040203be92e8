"""Retryable failures, with a real PostgreSQL that the test makes slow (a lock
it holds on `pets`), busy (a small pool), or absent (a closed port): each a
typed error with `retryable: true`, HTTP 503 and Retry-After when the whole
operation failed; on the compiled path and on strawberry's."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from graphql_petstore.app import create_app
from graphql_petstore.settings import Settings
from tests.api.slow_database import (
    GENEROUS,
    PETS,
    eventually,
    pets_locked,
    relay_to,
    until,
    waiting_on_the_lock,
    warm,
)
from tests.api.store import event_count
from tests.conftest import API_TOKEN

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ARRIVE = (
    'mutation { recordPetArrival(input: {name: "%s", species: "Cat", price: "1.00"}) '
    "{ pet { id name } userErrors { code } } }"
)
SLOW_ARRIVAL = """
create function test_slow_arrival() returns trigger language plpgsql as $$
begin
    if new.name = 'Slow' then perform pg_sleep(1.5); end if;
    return new;
end $$;
create trigger test_slow_arrival before insert on pet_arrived_events
    for each row execute function test_slow_arrival();
"""


@pytest.fixture(params=[True, False], ids=["compiled", "strawberry"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    return dataclasses.replace(settings, compiled_operations=request.param)


@contextlib.asynccontextmanager
async def serving(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = create_app(settings, database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


def assert_retryable(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body.get("data") is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, body
    assert error["extensions"]["retryable"] is True
    assert "internal" not in error["message"]


async def test_a_statement_past_its_time_limit_is_statement_timeout(
    settings: Settings, database_url: str, conn: asyncpg.Connection
) -> None:
    limited = dataclasses.replace(settings, statement_timeout=0.3, request_timeout=GENEROUS)
    async with serving(limited, database_url) as http, pets_locked(conn):
        response = await http.post("/graphql", json={"query": PETS})
        assert_retryable(response, "STATEMENT_TIMEOUT")
        assert await waiting_on_the_lock(conn) == 0


async def test_a_request_past_its_time_limit_is_stopped_with_its_statement(
    settings: Settings, database_url: str, conn: asyncpg.Connection
) -> None:
    limited = dataclasses.replace(settings, request_timeout=0.5, statement_timeout=GENEROUS)
    async with serving(limited, database_url) as http, pets_locked(conn):
        response = await http.post("/graphql", json={"query": PETS})
        assert_retryable(response, "REQUEST_TIMEOUT")
        # Its statement was cancelled, not left waiting for the lock.
        await until(conn, 0)


async def test_a_write_is_never_stopped_by_the_request_time_limit(
    settings: Settings, database_url: str, conn: asyncpg.Connection
) -> None:
    await conn.execute(SLOW_ARRIVAL)
    limited = dataclasses.replace(settings, request_timeout=0.3, statement_timeout=GENEROUS)
    before = await event_count(conn)
    async with serving(limited, database_url) as http:
        response = await http.post("/graphql", json={"query": ARRIVE % "Slow"}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["recordPetArrival"]["pet"]["name"] == "Slow"
    assert await event_count(conn) == before + 1


async def test_an_exhausted_pool_is_database_busy_and_readyz_still_answers(
    settings: Settings, database_url: str, conn: asyncpg.Connection
) -> None:
    small = dataclasses.replace(settings, pool_size=2, pool_timeout=0.5)
    before = await event_count(conn)
    async with serving(small, database_url) as http:
        await warm(http, 2)
        async with pets_locked(conn):
            blocked = [
                asyncio.ensure_future(http.post("/graphql", json={"query": PETS})) for _ in range(2)
            ]
            await until(conn, 2)
            assert_retryable(await http.post("/graphql", json={"query": PETS}), "DATABASE_BUSY")
            if settings.compiled_operations:
                # The writes' pool is the compiled reads' (strawberry reads on another).
                write = await http.post("/graphql", json={"query": ARRIVE % "Busy"}, headers=AUTH)
                assert_retryable(write, "DATABASE_BUSY")
            ready = await asyncio.wait_for(http.get("/readyz"), GENEROUS)
            assert ready.status_code == 200, ready.text
        for response in await asyncio.gather(*blocked):
            assert response.status_code == 200, response.text
            assert "errors" not in response.json()
    if settings.compiled_operations:
        assert await event_count(conn) == before  # the refused write stored nothing


async def test_a_write_on_an_exhausted_pool_is_database_busy_and_stores_nothing(
    settings: Settings, database_url: str, conn: asyncpg.Connection
) -> None:
    # The writes' pool is the lean one on both paths: hold all of it.
    small = dataclasses.replace(settings, pool_size=1, pool_timeout=0.5)
    await conn.execute(SLOW_ARRIVAL.replace("1.5", "3"))
    before = await event_count(conn)
    async with serving(small, database_url) as http:
        slow = asyncio.ensure_future(
            http.post("/graphql", json={"query": ARRIVE % "Slow"}, headers=AUTH)
        )
        sleeping = "select count(*) from pg_stat_activity where wait_event = 'PgSleep'"
        await eventually(lambda: conn.fetchval(sleeping), 1)
        refused = await http.post("/graphql", json={"query": ARRIVE % "Busy"}, headers=AUTH)
        assert_retryable(refused, "DATABASE_BUSY")
        assert (await slow).status_code == 200
    assert await event_count(conn) == before + 1


async def test_a_database_that_cannot_be_reached_is_database_unavailable(
    settings: Settings, database_url: str, conn: asyncpg.Connection
) -> None:
    # The server reaches PostgreSQL through a relay that the test cuts.
    proxy = relay_to(database_url)
    await proxy.start()
    before = await event_count(conn)
    try:
        database = urlsplit(database_url).path.lstrip("/")
        async with serving(settings, proxy.url(database)) as http:
            await warm(http, 1)
            proxy.cut()
            response = await http.post("/graphql", json={"query": PETS})
            assert_retryable(response, "DATABASE_UNAVAILABLE")
            write = await http.post("/graphql", json={"query": ARRIVE % "Nowhere"}, headers=AUTH)
            assert_retryable(write, "DATABASE_UNAVAILABLE")
            ready = await asyncio.wait_for(http.get("/readyz"), GENEROUS)
            assert ready.status_code == 503
            proxy.restore()
    finally:
        await proxy.close()
    assert await event_count(conn) == before


async def test_partial_data_stays_200(
    settings: Settings, database_url: str, conn: asyncpg.Connection
) -> None:
    # A nullable field that fails (pet) beside one that does not (__typename).
    # The compiled path answers both with one statement: it fails whole (503).
    if settings.compiled_operations:
        pytest.skip("one statement answers every root field of the compiled path")
    limited = dataclasses.replace(settings, statement_timeout=0.3, request_timeout=GENEROUS)
    document: dict[str, Any] = {
        "query": '{ __typename pet(id: "018f0000-0000-7000-8000-000000000000") { id } }'
    }
    async with serving(limited, database_url) as http, pets_locked(conn):
        response = await http.post("/graphql", json=document)
    body = response.json()
    assert body["data"] == {"__typename": "Query", "pet": None}, body
    assert response.status_code == 200
    [error] = body["errors"]
    assert error["extensions"]["code"] == "STATEMENT_TIMEOUT"
