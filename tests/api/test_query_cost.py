"""Query cost (api/cost.py) and validation linear in the document, on both
request paths: the compiled one and strawberry's alone."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from graphql import parse, validate

from graphql_petstore.api.schema import create_schema, limit_rules
from graphql_petstore.settings import DEFAULT_MAX_QUERY_COST, Settings
from tests.api.store import Store

# Bounds on a test's wait that only the exponential walks of fragments, or a
# query that ran instead of being refused (it would wait for the test's
# lock), could reach: the work itself takes milliseconds.
GENEROUS = 20.0
NOBODY = "018f0000-0000-7000-8000-000000000000"
# issue 9: 500 pets * mother * 100 kids * mother * 100 kids took 16.8 s.
ISSUE_DOCUMENT = (
    '{ pets(first: 500, filter: {motherId: "%s"}) '
    "{ nodes { mother { offspring { mother { offspring { id } } } } } } }"
)
# 1 + 500 * (1 + (1 + 500 * (1 + (1 + 500 * (1 + 0)))))
ISSUE_COST = 1 + 500 * (1 + 1 + 500 * (1 + 1 + 500))


def doubling(fragments: int, first: str, each: str) -> str:
    """Fragments that each spread the previous one twice; the operation
    spreads the last: 2**fragments paths through a 1 KB document."""
    lines = [f"query Doubling {{ pets(first: 2) {{ nodes {{ ...F{fragments} }} }} }}"]
    lines.append(f"fragment F0 on Pet {{ {first} }}")
    lines += [
        f"fragment F{i} on Pet {{ {each.replace('PREVIOUS', f'F{i - 1}')} }}"
        for i in range(1, fragments + 1)
    ]
    return "\n".join(lines)


# issue 9's twenty fragments, each spreading the previous twice.
TWENTY = doubling(20, "id name", "id name species ...PREVIOUS ...PREVIOUS")


@pytest.fixture(params=[True, False], ids=["compiled", "strawberry"])
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    return dataclasses.replace(settings, compiled_operations=request.param)


@pytest.fixture
async def pets_locked(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """`pets` locked against reads by the test: a query that runs waits."""
    async with conn.transaction():
        await conn.execute("lock table pets in access exclusive mode")
        yield


@contextlib.contextmanager
def cpu_bounded(seconds: float) -> Iterator[None]:
    """Interrupts Python code that runs longer than `seconds` (validation
    blocks the event loop, so an asyncio timeout could not)."""

    def interrupt(signum: int, frame: object) -> None:
        raise TimeoutError(f"still working after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


async def post(client: httpx.AsyncClient, document: str, **variables: Any) -> dict[str, Any]:
    with cpu_bounded(GENEROUS + 5):
        response = await asyncio.wait_for(
            client.post("/graphql", json={"query": document, "variables": variables}), GENEROUS
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refused_for_cost(body: dict[str, Any], cost: int, limit: int) -> None:
    assert body.get("data") is None, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "QUERY_COST_EXCEEDED", "cost": cost, "limit": limit}
    assert str(cost) in error["message"]
    assert str(limit) in error["message"]


async def test_the_issues_nested_document_is_refused_by_cost_before_it_runs(
    client: httpx.AsyncClient, pets_locked: None
) -> None:
    body = await post(client, ISSUE_DOCUMENT % NOBODY)
    refused_for_cost(body, ISSUE_COST, DEFAULT_MAX_QUERY_COST)


@pytest.mark.parametrize(
    ("first", "cost"),
    [(10, 1 + 10 * (1 + 500)), (99, 1 + 99 * (1 + 500)), (200, 1 + 200 * (1 + 500))],
)
async def test_page_sizes_given_as_variables_multiply_through_the_nesting(
    client: httpx.AsyncClient, store: Store, first: int, cost: int
) -> None:
    await store.arrive()
    document = "query($n: Int) { pets(first: $n) { nodes { id offspring { id } } } }"
    body = await post(client, document, n=first)
    if cost <= DEFAULT_MAX_QUERY_COST:
        assert body["data"]["pets"]["nodes"], body
    else:
        refused_for_cost(body, cost, DEFAULT_MAX_QUERY_COST)


async def test_a_smaller_budget_refuses_what_the_default_allows(
    database_url: str, settings: Settings, store: Store
) -> None:
    from graphql_petstore.app import create_app

    document = "{ pets { edges { node { history { nodes { id } } } } pageInfo { hasNextPage } } }"
    # pets + 50 * (edge + node + history + 50 history nodes) + pageInfo
    cost = 1 + 50 * (1 + 1 + 1 + 50) + 1
    app = create_app(dataclasses.replace(settings, max_query_cost=cost - 1), database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            refused_for_cost(await post(http, document), cost, cost - 1)
    app = create_app(dataclasses.replace(settings, max_query_cost=cost), database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert "errors" not in await post(http, document)


async def test_twenty_fragments_each_spreading_the_previous_twice_are_answered(
    client: httpx.AsyncClient, store: Store
) -> None:
    assert 900 < len(TWENTY) < 1600
    pet = (await store.arrive(name="Twice"))["pet"]
    body = await post(client, TWENTY)
    [node] = body["data"]["pets"]["nodes"]
    assert (node["id"], node["name"]) == (pet["id"], "Twice"), body


async def test_doubling_fragments_are_refused_in_milliseconds_when_over_a_limit(
    client: httpx.AsyncClient, pets_locked: None
) -> None:
    # Aliases: 2**26 of them, each spread counted.
    aliases = await post(client, doubling(26, "n: name", "id ...PREVIOUS ...PREVIOUS"))
    [error] = aliases["errors"]
    assert error["extensions"]["code"] == "TOO_MANY_ALIASES"
    assert str(2**26) in error["message"]
    # Objects: a mother in each of 2**26 copies.
    mothers = await post(client, doubling(26, "mother { id }", "id ...PREVIOUS ...PREVIOUS"))
    refused_for_cost(mothers, 1 + 2 * (1 + 2**26), DEFAULT_MAX_QUERY_COST)
    # Depth: each fragment one level below the previous.
    deep = await post(
        client, doubling(26, "id", "mother { ...PREVIOUS } offspring { ...PREVIOUS }")
    )
    [error] = deep["errors"]
    assert error["extensions"] == {"code": "QUERY_TOO_DEEP"}


async def test_a_page_size_over_the_maximum_counts_as_the_maximum_and_is_refused_as_input(
    client: httpx.AsyncClient,
) -> None:
    body = await post(client, "{ pets(first: 100000) { nodes { id } } }")
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}


def test_the_limits_are_validation_rules_with_their_codes() -> None:
    schema = create_schema(Settings())._schema
    rules = limit_rules(Settings(max_depth=2))
    deep = parse("{ pets { edges { node { mother { id } } } } }")
    [error] = validate(schema, deep, rules)
    assert error.extensions == {"code": "QUERY_TOO_DEEP"}
    aliased = parse("{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }")
    [error] = validate(schema, aliased, rules)
    assert error.extensions == {"code": "TOO_MANY_ALIASES"}
    assert error.message == "31 aliases found. Allowed: 30"


async def test_introspection_is_counted_by_this_schemas_sizes(client: httpx.AsyncClient) -> None:
    # GraphiQL's introspection query stays well inside the default budget.
    from graphql import get_introspection_query

    body = await post(client, get_introspection_query(descriptions=True))
    assert "errors" not in body, body["errors"][:1]
