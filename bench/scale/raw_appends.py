"""Appends without the HTTP server: the project's own append() on its lean
pool, at a concurrency, to tell what a transaction pooler costs the database
path (no statement cache, the extra hop) apart from what it costs the server."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence

from graphql_petstore.database.appends import Command, append
from graphql_petstore.database.engine import POOL_TIMEOUT, SESSION_SETTINGS
from graphql_petstore.database.ids import new_id
from graphql_petstore.database.pool import ConnectionPool, pool_settings
from harness.cpu import CpuMeter
from harness.load import User, run_load
from harness.results import Result
from harness.seeding import random_price


async def raw_appends(
    url: str,
    *,
    statement_cache: bool,
    session_settings: bool,
    pet_ids: Sequence[str],
    result: Result,
    warmup: float,
    meter: CpuMeter,
) -> Result:
    """`result.concurrency` tasks, each appending price changes of pets of its
    own (no two wait for one row lock) through one pool of that size: with or
    without asyncpg's statement cache (as through a transaction pooler), with
    or without the session settings sent at connect (a pooler refuses them;
    PgBouncer's connect_query gives them instead)."""
    concurrency = result.concurrency
    pool = ConnectionPool(
        url,
        concurrency,
        timeout=POOL_TIMEOUT,
        server_settings=pool_settings(SESSION_SETTINGS) if session_settings else {},
        transaction_pooler=not statement_cache,
    )
    rng = random.Random(concurrency)
    try:

        async def make_user(index: int) -> User:
            mine = [uuid.UUID(p) for p in pet_ids[index::concurrency]]
            position = 0

            async def op() -> str | None:
                nonlocal position
                position += 1
                command = Command(
                    event_type="PET_PRICE_CHANGE",
                    event_id=new_id(),
                    columns={
                        "pet_id": mine[position % len(mine)],
                        "new_price": random_price(rng),
                        "old_price": None,
                    },
                    metadata={"actor": "bench"},
                    expected_version=None,
                    idempotency=None,
                )
                await append(pool, command)
                return None

            async def release() -> None:
                return None

            return op, release

        return await run_load(result, make_user, warmup, meter)
    finally:
        await pool.close()
