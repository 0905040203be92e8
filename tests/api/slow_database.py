"""A database the API tests make slow, busy or unreachable: a lock the test
holds on `pets`, and a relay it can cut."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import httpx

from tests.faults.proxy import Proxy

PETS = "{ pets { nodes { id name } } }"
# Far more than any wait here should take: only a hang reaches it.
GENEROUS = 30.0


async def warm(http: httpx.AsyncClient, connections: int) -> None:
    """Has the pools open `connections` each: a new session's first query
    waits for the test's lock on `pets` too (its catalog lookups do)."""
    responses = await asyncio.gather(
        *(http.post("/graphql", json={"query": PETS}) for _ in range(connections))
    )
    assert all(r.status_code == 200 for r in responses)


@contextlib.asynccontextmanager
async def pets_locked(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """`pets` locked by the test: every read of it waits until the block ends."""
    async with conn.transaction():
        await conn.execute("lock table pets in access exclusive mode")
        yield


async def waiting_on_the_lock(conn: asyncpg.Connection) -> int:
    """Backends of this database (but the test's own) waiting for a lock."""
    count: int = await conn.fetchval(
        "select count(*) from pg_stat_activity where datname = current_database() "
        "and wait_event_type = 'Lock' and pid <> pg_backend_pid()"
    )
    return count


async def until(conn: asyncpg.Connection, waiting: int) -> None:
    """Until exactly `waiting` backends wait for the test's lock."""
    await eventually(lambda: waiting_on_the_lock(conn), waiting)


async def eventually(value: Callable[[], Awaitable[object]], wanted: object) -> None:
    for _ in range(int(GENEROUS / 0.02)):
        if await value() == wanted:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never {wanted!r}")


def relay_to(database_url: str) -> Proxy:
    """A relay to the server of `database_url` (TCP, or its unix socket)."""
    address = urlsplit(database_url)
    port = address.port or 5432
    host = dict(parse_qsl(address.query)).get("host") or address.hostname or ""
    if host.startswith("/"):
        return Proxy(port, f"{host}/.s.PGSQL.{port}")
    return Proxy(port)
