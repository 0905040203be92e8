"""/metrics after a known set of requests, read with prometheus-client's own
parser: every operation counted once, by type, name, outcome and code; the
events appended and refused; the pool's gauges; the settings that hide it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from graphql_petstore.app import create_app
from graphql_petstore.observability import metrics
from graphql_petstore.observability.metrics import MAX_OPERATION_NAMES, OTHER, BoundedLabel
from graphql_petstore.settings import Settings
from tests.conftest import API_TOKEN, API_TOKEN_NAME
from tests.observability.scrapes import Samples, increase, parse, value

ARRIVE = """
mutation Arrive($input: RecordPetArrivalInput!) {
  recordPetArrival(input: $input) { pet { id } userErrors { code } }
}
"""
SELL = """
mutation Sell($input: SellPetInput!) {
  sellPet(input: $input) { pet { id } userErrors { code } }
}
"""
PETS = "query Pets { pets(first: 2) { edges { node { id name } } } }"
UUID_LABEL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-", re.IGNORECASE)


async def scrape(client: httpx.AsyncClient, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def post(
    client: httpx.AsyncClient, document: str, variables: object = None, token: str | None = None
) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": document, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def arrival(name: str) -> dict[str, object]:
    return {"input": {"name": name, "species": "Cat", "price": "10.00"}}


@pytest.fixture(params=["compiled", "strawberry"])
def settings(request: pytest.FixtureRequest) -> Settings:
    """Either path answers what it can; both report alike."""
    return Settings(
        api_tokens={API_TOKEN: API_TOKEN_NAME},
        pool_size=2,
        compiled_operations=request.param == "compiled",
    )


async def test_each_operation_is_counted_once_by_type_name_outcome_and_code(
    client: httpx.AsyncClient, conn: asyncpg.Connection
) -> None:
    before = await scrape(client)

    await post(client, ARRIVE, arrival("Rex"), API_TOKEN)
    await post(client, ARRIVE, arrival("Tom"), API_TOKEN)
    await post(client, "{ pets(first: 1) { edges { cursor } } }")  # anonymous
    # user errors, by ErrorCode: nothing stored
    unknown_pet = {"petId": str(uuid.uuid4()), "customerId": str(uuid.uuid4()), "salePrice": "1"}
    await post(client, SELL, {"input": unknown_pet}, API_TOKEN)
    await post(client, ARRIVE, arrival("   "), API_TOKEN)
    # GraphQL errors, by extensions.code (or the step that failed)
    await post(client, "query Negative { pets(first: -1) { edges { cursor } } }")
    await post(client, "query Typo { petz }")
    await post(client, "query Broken { pets(", None)
    await post(client, ARRIVE, arrival("NoToken"))
    await post(client, ARRIVE, arrival("WrongToken"), "not-a-token")
    malformed = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    # an internal error: the read model is gone from under the server
    await conn.execute("alter table pets rename to pets_gone")
    internal = await post(client, PETS)
    assert internal["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"  # type: ignore[index]

    after = await scrape(client)
    operations = increase(
        before,
        after,
        "petstore_graphql_operations_total",
        "operation_type",
        "operation_name",
        "outcome",
        "code",
    )
    assert operations == {
        ("mutation", "Arrive", "ok", ""): 2,
        ("query", "anonymous", "ok", ""): 1,
        ("mutation", "Sell", "user_error", "PET_NOT_FOUND"): 1,
        ("mutation", "Arrive", "user_error", "VALIDATION_FAILED"): 1,
        ("query", "Negative", "graphql_error", "BAD_USER_INPUT"): 1,
        ("query", "Typo", "graphql_error", "GRAPHQL_VALIDATION_FAILED"): 1,
        ("unknown", "anonymous", "graphql_error", "GRAPHQL_PARSE_FAILED"): 1,  # unparsed: no name
        ("mutation", "Arrive", "graphql_error", "UNAUTHENTICATED"): 1,
        ("mutation", "Arrive", "graphql_error", "FORBIDDEN"): 1,
        ("unknown", "anonymous", "graphql_error", "BAD_REQUEST"): 1,
        ("query", "Pets", "internal_error", "INTERNAL_SERVER_ERROR"): 1,
    }
    timed = increase(
        before,
        after,
        "petstore_graphql_operation_duration_seconds_count",
        "operation_type",
        "operation_name",
    )
    assert timed == {
        ("mutation", "Arrive"): 5,
        ("mutation", "Sell"): 1,
        ("query", "anonymous"): 1,
        ("query", "Negative"): 1,
        ("query", "Typo"): 1,
        ("unknown", "anonymous"): 2,
        ("query", "Pets"): 1,
    }
    assert increase(before, after, "petstore_events_appended_total", "event_type") == {
        ("PET_ARRIVED",): 2
    }
    assert increase(before, after, "petstore_event_rejections_total", "code") == {
        ("PET_NOT_FOUND",): 1,
        ("VALIDATION_FAILED",): 1,
    }


async def test_no_label_carries_an_id(client: httpx.AsyncClient) -> None:
    written = await post(client, ARRIVE, arrival("Rex"), API_TOKEN)
    pet_id = written["data"]["recordPetArrival"]["pet"]["id"]  # type: ignore[index]
    await post(client, "query($id: UUID!) { pet(id: $id) { name } }", {"id": pet_id})
    samples = await scrape(client)
    for _name, labels in samples:
        for label, label_value in labels:
            assert not UUID_LABEL.search(label_value), (label, label_value)


def test_counts_reach_the_metric_objects_when_flushed_or_at_once_beyond_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Operations are tallied in plain numbers until flush() (a scrape, the
    sampler); beyond MAX_TALLIES distinct keys they are recorded at once."""
    monkeypatch.setattr(metrics, "_enabled", True)
    metrics.flush()
    name = f"Tally{uuid.uuid4().hex[:8]}"
    # "other" once a whole run has used up the names: then by how much it grew.
    labels = {"operation_type": "query", "operation_name": metrics.operation_name_label(name)}
    histogram = "petstore_graphql_operation_duration_seconds"
    wanted = {
        ("petstore_graphql_operations_total", ("outcome", "ok"), ("code", "")): 5,
        (f"{histogram}_bucket", ("le", "0.001")): 1,
        (f"{histogram}_bucket", ("le", "0.005")): 3,
        (f"{histogram}_bucket", ("le", "5.0")): 3,
        (f"{histogram}_bucket", ("le", "10.0")): 4,
        (f"{histogram}_count",): 4,
        (f"{histogram}_sum",): 7.0071,
    }

    def samples() -> dict[tuple[Any, ...], float]:
        return {
            key: REGISTRY.get_sample_value(key[0], {**labels, **dict(key[1:])}) or 0.0
            for key in wanted
        }

    before = samples()
    for seconds in (0.003, 0.004, 0.0001, 7.0):
        metrics.record_operation("query", name, "ok", "", seconds)
    metrics.record_operation("query", name, "ok", "", None)  # not timed
    assert samples() == before
    metrics.flush()
    after = samples()
    assert {key: after[key] - before[key] for key in wanted} == pytest.approx(wanted)

    monkeypatch.setattr(metrics, "MAX_TALLIES", 0)
    refused = {**labels, "outcome": "user_error", "code": metrics.code_label("PET_NOT_FOUND")}
    at_first = REGISTRY.get_sample_value("petstore_graphql_operations_total", refused) or 0.0
    metrics.record_operation("query", name, "user_error", "PET_NOT_FOUND", 0.003)
    assert REGISTRY.get_sample_value("petstore_graphql_operations_total", refused) == at_first + 1


def test_operation_names_beyond_the_cap_count_as_other() -> None:
    names = BoundedLabel(3, re.compile(r"[A-Za-z]+"))
    assert [names(n) for n in ("A", "B", "A", "C", "D", "B", "E")] == [
        "A",
        "B",
        "A",
        "C",
        OTHER,
        "B",
        OTHER,
    ]
    assert names("not a name") == OTHER
    assert MAX_OPERATION_NAMES == 100


async def test_pool_gauges_show_connections_in_use_and_callers_waiting(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    idle = await scrape(client)
    for pool in ("engine", "requests"):
        assert value(idle, "petstore_db_pool_size", pool=pool) == 2
        assert value(idle, "petstore_db_pool_in_use", pool=pool) == 0
        assert value(idle, "petstore_db_pool_waiting", pool=pool) == 0

    engine, requests = app.state.engine, app.state.pool
    async with contextlib.AsyncExitStack() as held:
        for _ in range(2):
            await held.enter_async_context(engine.connect())
            await held.enter_async_context(requests.connection())
        waiters = [
            asyncio.create_task(_connect_once(engine.connect())),
            asyncio.create_task(_connect_once(requests.connection())),
        ]
        await asyncio.sleep(0.2)  # let them reach the pools and queue
        busy = await scrape(client)
    await asyncio.gather(*waiters)

    assert value(busy, "petstore_db_pool_in_use", pool="engine") == 2
    assert value(busy, "petstore_db_pool_waiting", pool="engine") == 1
    assert value(busy, "petstore_db_pool_in_use", pool="requests") == 2
    assert value(busy, "petstore_db_pool_waiting", pool="requests") == 1
    # The stream gauges' own query (on the engine) found no connection either.
    assert value(busy, "petstore_database_up") == 0
    again = await scrape(client)
    for pool in ("engine", "requests"):
        assert value(again, "petstore_db_pool_in_use", pool=pool) == 0
        assert value(again, "petstore_db_pool_waiting", pool=pool) == 0
    assert value(again, "petstore_database_up") == 1


async def _connect_once(connection: contextlib.AbstractAsyncContextManager[object]) -> None:
    async with connection:
        pass


@pytest_asyncio.fixture(loop_scope="session")
async def app_with(database_url: str) -> AsyncIterator[object]:
    apps: list[contextlib.AbstractAsyncContextManager[None]] = []

    async def make(settings: Settings) -> httpx.AsyncClient:
        application = create_app(settings, database_url)
        lifespan = application.router.lifespan_context(application)
        await lifespan.__aenter__()
        apps.append(lifespan)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://petstore.test"
        )

    try:
        yield make
    finally:
        for lifespan in reversed(apps):
            await lifespan.__aexit__(None, None, None)


async def test_metrics_can_be_turned_off(app_with: object) -> None:
    client = await app_with(Settings(metrics=False))  # type: ignore[operator]
    async with client:
        assert (await client.get("/metrics")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200


async def test_metrics_behind_a_token_need_it(app_with: object) -> None:
    client = await app_with(Settings(metrics_token="scrape-secret"))  # type: ignore[operator]
    async with client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-secret"}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert "petstore_" not in refused.text
        samples = await scrape(client, token="scrape-secret")
        assert value(samples, "petstore_server_processes") == 1


async def test_docs_operating_describes_every_metric(client: httpx.AsyncClient) -> None:
    await post(client, ARRIVE, arrival("Rex"), API_TOKEN)
    response = await client.get("/metrics")
    families = {
        family.name
        for family in text_string_to_metric_families(response.text)
        if family.name.startswith("petstore_")
    }
    assert len(families) >= 20
    documented = (Path(__file__).parents[2] / "docs" / "operating.md").read_text()
    missing = {
        name
        for name in families
        if f"`{name}`" not in documented and f"`{name}_total`" not in documented
    }
    assert missing == set()
