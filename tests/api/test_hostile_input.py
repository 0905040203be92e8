"""Input no column, jsonb or timestamptz can hold is refused with a typed
error on both request paths (compiled and strawberry), never a 500 or a
masked internal error, and stores nothing; event dates are checked for
sanity by the server and by the database; audit fields need a token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from graphql_petstore.app import create_app
from graphql_petstore.settings import Settings
from tests.api.store import event_count
from tests.conftest import API_TOKEN, API_TOKEN_NAME

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ARRIVE = (
    "mutation($n: String!, $m: JSON, $k: String) { recordPetArrival(input: "
    '{name: $n, species: "Cat", price: "1.00", metadata: $m, idempotencyKey: $k}) '
    "{ pet { id } event { id } userErrors { code message } } }"
)
EVENT = "query($id: UUID!) { event(id: $id) { actor requestId metadata } }"


@pytest_asyncio.fixture(loop_scope="session", params=[True, False], ids=["compiled", "strawberry"])
async def http(request: pytest.FixtureRequest, api_database_url: str) -> AsyncIterator[Any]:
    async def make(**settings: Any) -> httpx.AsyncClient:
        app = create_app(
            Settings(
                api_tokens={API_TOKEN: API_TOKEN_NAME},
                compiled_operations=request.param,
                **settings,
            ),
            api_database_url,
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        opened.append(lifespan)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url="http://petstore.test")
        clients.append(client)
        return client

    opened: list[Any] = []
    clients: list[httpx.AsyncClient] = []
    try:
        yield make
    finally:
        for client in clients:
            await client.aclose()
        for lifespan in opened:
            await lifespan.__aexit__(None, None, None)


def refused(response: httpx.Response, code: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, body
    return error  # type: ignore[no-any-return]


async def test_a_body_that_is_not_utf8_or_has_a_huge_number_is_a_typed_400(http: Any) -> None:
    client = await http()
    for body in (
        b'{"query": "{ __typename }", "x": "\xff\xfe"}',
        b'{"query": "query($f: Int) { pets(first: $f) { nodes { id } } }", '
        b'"variables": {"f": ' + b"9" * 5000 + b"}}",
    ):
        response = await client.post(
            "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "MALFORMED_REQUEST"
    # the connection's next request is served as usual
    assert (await client.post("/graphql", json={"query": "{ __typename }"})).status_code == 200


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b", "\udc00"])
async def test_nul_and_lone_surrogates_in_a_read_filter_are_refused(http: Any, bad: str) -> None:
    client = await http()
    document = "query($s: String) { pets(filter: {species: $s}) { nodes { id } } }"
    body = json.dumps({"query": document, "variables": {"s": bad}}).encode()
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    refused(response, "UNSUPPORTED_CHARACTER")
    literal = await client.post(
        "/graphql", json={"query": '{ pets(filter: {species: "\\u0000"}) { nodes { id } } }'}
    )
    refused(literal, "UNSUPPORTED_CHARACTER")


@pytest.mark.parametrize(
    "variables",
    [
        {"n": "Flu\x00ffy"},
        {"n": "Flu\ud800ffy"},
        {"n": "Fluffy", "k": "key\udfff"},
        {"n": "Fluffy", "m": {"note": "a\x00b"}},
        {"n": "Fluffy", "m": {"k\ud800": 1}},
        {"n": "Fluffy", "m": {"list": ["\ud800"]}},
    ],
)
async def test_nul_and_lone_surrogates_in_a_mutation_are_refused_and_store_nothing(
    http: Any, conn: asyncpg.Connection, variables: dict[str, Any]
) -> None:
    client = await http()
    body = json.dumps({"query": ARRIVE, "variables": variables}).encode()
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json", **AUTH}
    )
    refused(response, "UNSUPPORTED_CHARACTER")
    assert await event_count(conn) == 0


async def test_json_nested_too_deeply_is_refused(http: Any, conn: asyncpg.Connection) -> None:
    client = await http()
    deep: Any = 1
    for _ in range(900):
        deep = {"a": deep}
    response = await client.post(
        "/graphql", json={"query": ARRIVE, "variables": {"n": "F", "m": deep}}, headers=AUTH
    )
    refused(response, "JSON_TOO_DEEP")
    assert await event_count(conn) == 0
    fine: Any = 1
    for _ in range(60):
        fine = {"a": fine}
    stored = await client.post(
        "/graphql", json={"query": ARRIVE, "variables": {"n": "F", "m": fine}}, headers=AUTH
    )
    assert stored.json()["data"]["recordPetArrival"]["userErrors"] == []


@pytest.mark.parametrize(
    "instant",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T05:00:00+06:00"],
)
async def test_date_times_beyond_the_calendar_are_refused(http: Any, instant: str) -> None:
    client = await http()
    documents = [
        (
            'query($t: DateTime) { pet(id: "018f0000-0000-7000-8000-000000000000", asOf: $t) '
            "{ id } }"
        ),
        "query($t: DateTime) { events(filter: {since: $t}) { nodes { id } } }",
        "query($t: DateTime) { events(filter: {until: $t}) { nodes { id } } }",
    ]
    for document in documents:
        response = await client.post(
            "/graphql", json={"query": document, "variables": {"t": instant}}
        )
        refused(response, "DATE_OUT_OF_RANGE")
    literal = await client.post(
        "/graphql",
        json={"query": f'{{ events(filter: {{until: "{instant}"}}) {{ nodes {{ id }} }} }}'},
    )
    refused(literal, "DATE_OUT_OF_RANGE")


async def test_the_ends_of_the_calendar_in_utc_are_served(http: Any) -> None:
    client = await http()
    for instant in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59+00:00"):
        response = await client.post(
            "/graphql",
            json={
                "query": "query($t: DateTime) { events(filter: {until: $t}) { nodes { id } } }",
                "variables": {"t": instant},
            },
        )
        assert "errors" not in response.json(), response.text


LOSE = (
    "mutation($id: UUID!, $d: Date) { reportPetLost(input: {petId: $id, lostDate: $d}) "
    "{ pet { status } userErrors { code field } } }"
)


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "9999-12-31", "2999-01-01"])
async def test_event_dates_outside_1900_to_tomorrow_are_validation_failures(
    http: Any, conn: asyncpg.Connection, day: str
) -> None:
    client = await http()
    arrived = await client.post(
        "/graphql", json={"query": ARRIVE, "variables": {"n": "Rex"}}, headers=AUTH
    )
    pet_id = arrived.json()["data"]["recordPetArrival"]["pet"]["id"]
    before = await event_count(conn)
    response = await client.post(
        "/graphql", json={"query": LOSE, "variables": {"id": pet_id, "d": day}}, headers=AUTH
    )
    assert response.json()["data"]["reportPetLost"]["userErrors"] == [
        {"code": "VALIDATION_FAILED", "field": ["input", "lostDate"]}
    ]
    assert await event_count(conn) == before


async def test_the_database_refuses_implausible_event_dates_itself(
    conn: asyncpg.Connection,
) -> None:
    pet_id = await conn.fetchval(
        "insert into pet_arrived_events (pet_id, name, species, price) "
        "values (uuid_generate_v7(), 'Rex', 'Dog', 1) returning pet_id"
    )
    lose = "insert into pet_lost_events (pet_id, lost_date) values ($1, $2::text::date)"
    for day in ("1899-12-31", "3000-01-01"):
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(lose, pet_id, day)
    await conn.execute(lose, pet_id, "1900-01-01")
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "insert into pet_found_events (pet_id, found_date) values ($1, '3000-01-01')", pet_id
        )


# --- audit fields --------------------------------------------------------------


async def test_audit_fields_are_null_without_a_token(http: Any) -> None:
    client = await http()
    arrived = await client.post(
        "/graphql",
        json={"query": ARRIVE, "variables": {"n": "Rex", "m": {"note": "x"}}},
        headers={**AUTH, "X-Request-ID": "client-chosen-1"},
    )
    event_id = arrived.json()["data"]["recordPetArrival"]["event"]["id"]
    server_id = arrived.headers["petstore-request-id"]
    anonymous = await client.post("/graphql", json={"query": EVENT, "variables": {"id": event_id}})
    assert anonymous.json() == {
        "data": {"event": {"actor": None, "requestId": None, "metadata": None}}
    }
    wrong = await client.post(
        "/graphql",
        json={"query": EVENT, "variables": {"id": event_id}},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert wrong.json()["data"]["event"]["metadata"] is None
    with_token = await client.post(
        "/graphql", json={"query": EVENT, "variables": {"id": event_id}}, headers=AUTH
    )
    event = with_token.json()["data"]["event"]
    assert event["actor"] == API_TOKEN_NAME
    assert event["requestId"] == server_id != "client-chosen-1"
    assert event["metadata"]["note"] == "x"
    pet_id = arrived.json()["data"]["recordPetArrival"]["pet"]["id"]
    history = await client.post(
        "/graphql",
        json={
            "query": "query($id: UUID!) { pet(id: $id) { history { nodes "
            "{ actor requestId metadata } } } }",
            "variables": {"id": pet_id},
        },
    )
    assert history.json()["data"]["pet"]["history"]["nodes"] == [
        {"actor": None, "requestId": None, "metadata": None}
    ]


async def test_anonymous_reads_can_be_turned_off(http: Any) -> None:
    client = await http(anonymous_reads=False)
    refused(
        await client.post("/graphql", json={"query": "{ pets { nodes { id } } }"}),
        "UNAUTHENTICATED",
    )
    served = await client.post(
        "/graphql", json={"query": "{ pets { nodes { id } } }"}, headers=AUTH
    )
    assert served.json() == {"data": {"pets": {"nodes": []}}}
