"""Over 10,000 pets, every compiled root field's statement reads through
indexes: no sequential scan of `pets` or of an event table, with the plan
PostgreSQL makes for the first executions and with the generic plan it
switches to for a prepared statement later."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest_asyncio
from graphql.execution.values import get_variable_values
from starlette.applications import Starlette

from graphql_petstore.compiled.arguments import Bindings
from graphql_petstore.compiled.operations import Statement

PETS = 10_000
EVENT_TABLES = {
    "pets",
    "pet_arrived_events",
    "pet_born_events",
    "pet_sold_events",
    "pet_price_change_events",
    "pet_lost_events",
    "pet_found_events",
}

DOCUMENTS: list[tuple[str, str]] = [
    ("pet", "query($id: UUID!) { pet(id: $id) { id name mother { id } offspring { id } } }"),
    (
        "pet asOf",
        'query($id: UUID!) { pet(id: $id, asOf: "2100-01-01T00:00:00Z") { id version } }',
    ),
    (
        "pets",
        "query($after: String) { pets(first: 50, after: $after) { edges { cursor node { id } } } }",
    ),
    ("pets by status", "{ pets(first: 50, filter: {status: [SOLD]}) { nodes { id } } }"),
    ("pets by species", '{ pets(first: 50, filter: {species: "Ferret"}) { nodes { id } } }'),
    ("pets by mother", "query($id: UUID) { pets(filter: {motherId: $id}) { nodes { id } } }"),
    (
        "a page with history",
        "{ pets(first: 20) { nodes { history(first: 5) { nodes { id } } } } }",
    ),
    ("event", "query($event: UUID!) { event(id: $event) { id pet { id } } }"),
    (
        "events",
        "query($after: String) { events(first: 50, after: $after) { nodes { id } } }",
    ),
    (
        "events of a pet",
        "query($id: UUID) { events(first: 50, filter: {petId: $id}) { nodes { id } } }",
    ),
    (
        "events of a type since",
        '{ events(first: 50, filter: {types: [PET_SOLD], since: "2100-01-01T00:00:00Z"}) '
        "{ nodes { id } } }",
    ),
]


@pytest_asyncio.fixture(loop_scope="session")
async def big_store(conn: asyncpg.Connection) -> dict[str, Any]:
    await conn.execute(
        f"""
        insert into pet_arrived_events (pet_id, name, species, price)
        select uuid_generate_v7(), 'Pet ' || i, case when i % 3 = 0 then 'Dog' else 'Cat' end, 10
        from generate_series(1, {PETS}) i;
        insert into pet_born_events (pet_id, mother_id, name, price)
        select uuid_generate_v7(), id, 'Kit of ' || name, 5 from pets where name like '%3';
        insert into pet_price_change_events (pet_id, new_price)
        select id, 12 from pets where name like '%1' or name like '%2';
        insert into pet_lost_events (pet_id)
        select id from pets where name like '%4' or name like '%5';
        insert into pet_found_events (pet_id) select id from pets where status = 'LOST';
        insert into pet_sold_events (pet_id, customer_id, sale_price)
        select id, gen_random_uuid(), 10 from pets where name like '%7';
        analyze;
        """
    )
    row = await conn.fetchrow("select id, last_event_id from pets order by id desc limit 1")
    cursor = await conn.fetchval("select tx_id::text || '.' || seq from events limit 1")
    assert cursor is not None
    return {"id": str(row["id"]), "event": str(row["last_event_id"]), "after": None}


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(plan["Node Type"], plan.get("Relation Name", ""))]
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def test_each_root_field_reads_through_indexes(
    app: Starlette, conn: asyncpg.Connection, big_store: dict[str, Any]
) -> None:
    # One test for all documents: seeding 10,000 pets takes longer than
    # explaining every statement.
    plans = app.state.compiled.plans
    sequential: dict[str, list[str]] = {}
    for what, document in DOCUMENTS:
        plan = plans.plan(document, None)
        definitions = plan.operation.variable_definitions or ()
        given = {d.variable.name.value: big_store[d.variable.name.value] for d in definitions}
        coerced = get_variable_values(plans.schema, definitions, given)
        assert not isinstance(coerced, list), coerced
        statement = plans.compiled(plan, coerced.coerced)
        assert isinstance(statement, Statement), f"{what} is not compiled"
        arguments = statement.arguments(Bindings(coerced.coerced))
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"set plan_cache_mode = {mode}")
            explained = await conn.fetchval(f"explain (format json) {statement.sql}", *arguments)
            for node, table in _scans(json.loads(explained)[0]["Plan"]):
                if node == "Seq Scan" and table in EVENT_TABLES:
                    sequential.setdefault(f"{what} ({mode})", []).append(table)
    await conn.execute("reset plan_cache_mode")
    assert not sequential
