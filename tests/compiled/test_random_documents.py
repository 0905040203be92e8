"""Property: for random documents over the schema (hypothesis-graphql), with
random filters, pages and cursors, against a random valid history, the
compiled path answers exactly as strawberry does — or leaves the document to
strawberry.

The history is made once per test by a seeded random walk over the rules
(the seed is in every failure message); hypothesis draws the documents, and
their scalars from what the history holds (its ids, its instants, its
cursors) as well as from anything at all, so that the compiled path meets
valid and invalid values alike.
"""

from __future__ import annotations

import base64
import json
import os
import random
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import pytest
import pytest_asyncio
from graphql import build_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries

from graphql_petstore.api.schema import create_schema
from graphql_petstore.settings import Settings
from tests.api.store import settle
from tests.compiled.conftest import Twin

SPECIES = ("Cat", "Dog", "Ferret")


@dataclass
class History:
    seed: int
    pet_ids: list[str]
    event_ids: list[str]
    instants: list[str]
    cursors: list[str]


async def _random_history(conn: asyncpg.Connection, seed: int, steps: int = 120) -> History:
    rng = random.Random(seed)
    status: dict[str, str] = {}
    species: dict[str, str] = {}
    for _ in range(steps):
        pets = list(status)
        move = rng.random()
        available = [p for p in pets if status[p] == "AVAILABLE"]
        if not pets or move < 0.2:
            kind = rng.choice(SPECIES)
            pet = await conn.fetchval(
                "insert into pet_arrived_events (pet_id, name, species, price, metadata)"
                " values (uuid_generate_v7(), $1, $2, $3, $4) returning pet_id",
                f"Pet {len(pets)} " + rng.choice(["é", "🐈", "x", '"q"']),
                kind,
                rng.randint(0, 100_000) / 100,
                json.dumps({"n": rng.random(), "k": rng.choice([None, True, "v"])}),
            )
            status[str(pet)], species[str(pet)] = "AVAILABLE", kind
        elif move < 0.35 and available:
            mother = rng.choice(available)
            pet = await conn.fetchval(
                "insert into pet_born_events (pet_id, mother_id, name, price)"
                " values (uuid_generate_v7(), $1, $2, 5) returning pet_id",
                mother,
                f"Kit {len(pets)}",
            )
            status[str(pet)], species[str(pet)] = "AVAILABLE", species[mother]
        elif move < 0.6:
            pet = rng.choice([p for p in pets if status[p] != "SOLD"] or pets)
            if status[pet] != "SOLD":
                await conn.execute(
                    "insert into pet_price_change_events (pet_id, new_price) values ($1, $2)",
                    pet,
                    rng.randint(0, 9_999) / 100,
                )
        elif move < 0.75 and available:
            pet = rng.choice(available)
            await conn.execute(
                "insert into pet_lost_events (pet_id, last_seen_location) values ($1, $2)",
                pet,
                rng.choice([None, "by the\npond"]),
            )
            status[pet] = "LOST"
        elif move < 0.85 and [p for p in pets if status[p] == "LOST"]:
            pet = rng.choice([p for p in pets if status[p] == "LOST"])
            await conn.execute("insert into pet_found_events (pet_id) values ($1)", pet)
            status[pet] = "AVAILABLE"
        elif available:
            pet = rng.choice(available)
            await conn.execute(
                "insert into pet_sold_events (pet_id, customer_id, sale_price)"
                " values ($1, gen_random_uuid(), 1)",
                pet,
            )
            status[pet] = "SOLD"
    await settle(conn)
    rows = await conn.fetch("select id, created_at, tx_id::text as tx, seq from pet_event_log")
    instants = []
    for row in rows:
        for offset in (-1, 0, 1):
            instants.append((row["created_at"] + timedelta(microseconds=offset)).isoformat())
    return History(
        seed,
        list(status),
        [str(row["id"]) for row in rows],
        instants,
        [_cursor(f"stream:{row['tx']}.{row['seq']}") for row in rows]
        + [_cursor(f"pet:{pet}") for pet in status]
        + [_cursor(f"version:{n}") for n in range(5)],
    )


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest_asyncio.fixture(loop_scope="session")
async def history(conn: asyncpg.Connection) -> History:
    return await _random_history(conn, int.from_bytes(os.urandom(4), "big"))


def _documents(history: History) -> st.SearchStrategy[str]:
    sdl = create_schema(Settings()).as_str()
    uuids = st.one_of(st.sampled_from(history.pet_ids + history.event_ids), st.uuids().map(str))
    strings = st.one_of(
        st.sampled_from([*history.cursors, "0", *SPECIES]),
        st.text(max_size=8),
    )
    scalars = {
        "UUID": uuids.map(nodes.String),
        "DateTime": st.one_of(
            st.sampled_from(history.instants), st.datetimes().map(lambda d: d.isoformat())
        ).map(nodes.String),
        "Date": st.dates().map(nodes.String),
        "Decimal": st.decimals(allow_nan=False, places=2, max_value=10**6).map(nodes.String),
        "JSON": st.just(nodes.Object([])),
        "String": strings.map(nodes.String),
        "Int": st.one_of(st.integers(0, 5), st.integers(-3, 600)).map(nodes.Int),
    }
    return queries(build_schema(sdl), custom_scalars=scalars, codec="utf-8")


# 27 s; on every version the other tests of tests/compiled check the compiled SQL.
@pytest.mark.once
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_random_documents_answer_as_strawberry_does(
    twin: Twin, history: History, data: st.DataObject
) -> None:
    document = data.draw(_documents(history))
    answers = await twin.ask(document)
    label("compiled" if answers.answered_by_compiled else "left to strawberry")
    assert answers.same_but_request_ids, (
        f"seed {history.seed}",
        document,
        answers.compiled,
        answers.reference,
    )
