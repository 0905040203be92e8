"""The server's ids (graphql_petstore.database.ids): UUIDv7 that keep to the
clock however fast they are made, so that they sort by creation time among
themselves and against the ids PostgreSQL makes (design §4)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import asyncpg

from graphql_petstore.database.ids import new_id

MANY = 20_000  # far more than one a millisecond


def _milliseconds(made: uuid.UUID) -> int:
    return made.int >> 80


def test_ids_made_faster_than_one_a_millisecond_keep_to_the_clock() -> None:
    before = time.time_ns() // 1_000_000
    made = [new_id() for _ in range(MANY)]
    after = time.time_ns() // 1_000_000
    assert all(a.int < b.int for a, b in itertools.pairwise(made))
    assert {(m.version, m.variant) for m in made} == {(7, uuid.RFC_4122)}
    # Each id's millisecond is one the clock showed while the ids were made
    # (uuid6.uuid7() would put the last one MANY ms ahead).
    assert before <= _milliseconds(made[0])
    assert _milliseconds(made[-1]) <= after


def test_the_sub_millisecond_bits_are_the_clock_s_fraction() -> None:
    made = new_id()
    now = time.time_ns()
    stamp = _milliseconds(made) * 4096 + (made.int >> 64 & 0xFFF)  # rand_a
    clock = now // 1_000_000 * 4096 + now % 1_000_000 * 4096 // 1_000_000
    assert 0 <= clock - stamp < 4096  # made less than a millisecond before


async def test_an_id_postgresql_makes_after_a_burst_of_the_server_s_sorts_after_them(
    conn: asyncpg.Connection,
) -> None:
    made = [new_id() for _ in range(MANY)]
    await asyncio.sleep(0.002)  # past the millisecond of the last one
    later: uuid.UUID = await conn.fetchval("select uuid_generate_v7()")
    assert max(made) < later
