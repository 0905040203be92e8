"""One request, one statement: what the compiled path sends to PostgreSQL,
and the debug setting that shows it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from graphql_petstore.app import create_app
from graphql_petstore.compiled.plans import MAX_SIZED_VARIANTS
from graphql_petstore.settings import Settings
from tests.api.store import Store
from tests.conftest import API_TOKEN, GraphQLClient

NESTED_PAGE = """
query($first: Int) {
  pets(first: $first) {
    edges { cursor node {
      id name mother { name } offspring { id }
      history(first: 5) { nodes { type ... on PetPriceChange { newPrice } } } } }
    pageInfo { hasNextPage endCursor }
  }
  events(first: 3) { nodes { id } }
}
"""


@pytest_asyncio.fixture(loop_scope="session")
async def one_connection(settings: Settings, api_database_url: str) -> AsyncIterator[Starlette]:
    """The app with a pool of one connection, so that a test can watch it."""
    app = create_app(
        dataclasses.replace(settings, pool_size=1, log_compiled_sql=True), api_database_url
    )
    async with app.router.lifespan_context(app):
        yield app


async def _watched(app: Starlette) -> list[str]:
    statements: list[str] = []
    async with app.state.pool.connection() as conn:
        conn.add_query_logger(lambda record: statements.append(record.query))
    return statements


async def test_a_nested_page_and_a_mutation_are_one_statement_each(
    one_connection: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    transport = httpx.ASGITransport(app=one_connection)
    async with httpx.AsyncClient(transport=transport, base_url="http://petstore.test") as http:
        gql = GraphQLClient(http)
        store = Store(gql)
        mom = (await store.arrive(name="Mom"))["pet"]["id"]
        for n in range(3):
            kit = (await store.birth(mom, name=f"Kit {n}"))["pet"]["id"]
            await store.change_price(kit, "3.00")
        statements = await _watched(one_connection)
        with caplog.at_level(logging.INFO, logger="graphql_petstore.compiled"):
            for first in (2, 10, 2):
                result = await gql.query(NESTED_PAGE, {"first": first})
                assert "errors" not in result
            await store.change_price(mom, "11.00")
    await asyncio.sleep(0.01)  # asyncpg calls query loggers soon, not at once
    assert len(statements) == 4, statements
    # One statement per page size (written into it), the same for the same size.
    assert statements[0] == statements[2] != statements[1]
    # Without an idempotency key the mutation is the INSERT itself.
    assert statements[3].startswith("with appended as (insert into pet_price_change_events ")
    # Logged once each, when compiled: the page for each of its two sizes, and
    # the price change (compiled on its first use, above).
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("compiled")]
    assert sum(statements[0] in message for message in logged) == 1, logged
    assert sum(statements[1] in message for message in logged) == 1, logged


async def test_the_compiled_path_can_be_turned_off(
    settings: Settings, api_database_url: str
) -> None:
    app = create_app(dataclasses.replace(settings, compiled_operations=False), api_database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://petstore.test") as http:
            result = await GraphQLClient(http).query("{ pets { nodes { id } } }")
    assert result == {"data": {"pets": {"nodes": []}}}
    assert app.state.compiled.answered == 0
    assert API_TOKEN  # the app's settings keep the test token


@contextlib.asynccontextmanager
async def _mother_and_kit(app: Starlette) -> AsyncIterator[GraphQLClient]:
    """A client of `app`, whose store holds a mother and her kit."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://petstore.test") as http:
        gql = GraphQLClient(http)
        store = Store(gql)
        mom = (await store.arrive(name="Mom"))["pet"]["id"]
        await store.birth(mom, name="Kit")
        yield gql


async def _history_page_plans(app: Starlette) -> list[tuple[int, int]]:
    """(generic plans, custom plans) of each statement prepared on the app's
    one connection that reads a pet's history."""
    async with app.state.pool.connection() as conn:
        plans = await conn.fetch(
            "select generic_plans, custom_plans from pg_prepared_statements "
            "where statement like '%\"history\"%' and statement not like '%pg_prepared%'"
        )
    return [(p["generic_plans"], p["custom_plans"]) for p in plans]


LITERAL_PAGE = """
{ pets(first: 20) { edges { node { id mother { name } history(first: 5) { nodes { type } } } } } }
"""


async def test_a_page_whose_sizes_are_literals_is_planned_once_for_every_request(
    one_connection: Starlette,
) -> None:
    """While a prepared statement's generic plan looks dearer than the plans
    made for each execution's values, as it does with a parameter in LIMIT,
    PostgreSQL plans it anew on every execution: for this page that cost as
    much as running it. Its sizes are literals, so they are written into the
    statement, and PostgreSQL keeps one plan for all requests."""
    async with _mother_and_kit(one_connection) as gql:
        for _ in range(8):
            result = await gql.query(LITERAL_PAGE)
            assert "errors" not in result, result
            assert len(result["data"]["pets"]["edges"]) == 2
    assert await _history_page_plans(one_connection) == [(8, 0)]


async def test_a_page_whose_size_is_a_variable_is_planned_once_for_every_request_of_that_size(
    one_connection: Starlette,
) -> None:
    """`pets(first: $first)`, as Relay and Apollo clients write it: each size
    gets a statement of its own with the size written into it, as a literal
    size does, and PostgreSQL keeps one plan for each."""
    async with _mother_and_kit(one_connection) as gql:
        for first in (1, 2) * 8:
            result = await gql.query(NESTED_PAGE, {"first": first})
            assert "errors" not in result, result
            assert len(result["data"]["pets"]["edges"]) == first
    assert await _history_page_plans(one_connection) == [(8, 0), (8, 0)]


async def test_sizes_past_the_bound_and_sizes_it_refuses_stay_parameters(
    one_connection: Starlette,
) -> None:
    compiled = one_connection.state.compiled
    transport = httpx.ASGITransport(app=one_connection)
    async with httpx.AsyncClient(transport=transport, base_url="http://petstore.test") as http:
        gql = GraphQLClient(http)
        store = Store(gql)
        for n in range(MAX_SIZED_VARIANTS + 3):
            await store.arrive(name=f"Pet {n}")
        for first in range(1, MAX_SIZED_VARIANTS + 4):
            before = compiled.answered
            result = await gql.query(NESTED_PAGE, {"first": first})
            assert "errors" not in result, result
            assert len(result["data"]["pets"]["edges"]) == min(first, MAX_SIZED_VARIANTS + 3)
            assert compiled.answered == before + 1  # past the bound too, as a parameter
        refused = await gql.query(NESTED_PAGE, {"first": -1})
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", refused
    plan = compiled.plans.plan(NESTED_PAGE, None)
    assert plan.page_sizes == ("first",)
    assert len(plan.sized_variants) == MAX_SIZED_VARIANTS
    assert len(plan.variants) == 1  # every other size, and the refused one
