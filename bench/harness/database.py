"""The PostgreSQL server a benchmark runs on, and its fresh bench database."""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
from pathlib import Path

import asyncpg

from graphql_petstore.database.location import with_database
from harness.report import say

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def reachable(url: str) -> str | None:
    """None when a connection succeeds, else why not."""
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def server_settings(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("show server_version")
        rows = await conn.fetch(
            "select name, setting from pg_settings where name in"
            " ('synchronous_commit', 'fsync', 'shared_buffers', 'max_connections')"
            " order by name"
        )
    finally:
        await conn.close()
    return f"PostgreSQL {version}; " + ", ".join(f"{r['name']}={r['setting']}" for r in rows)


async def postgres_server(stack: contextlib.AsyncExitStack, admin_url: str) -> tuple[str, str]:
    """The admin URL to use and where that server is: admin_url when it answers,
    else an embedded PostgreSQL with its data under /tmp, stopped and removed
    when the stack closes. Prints the server's version and settings."""
    problem = await reachable(admin_url)
    if problem is None:
        where = f"server at {admin_url}"
    else:
        from graphql_petstore.database.embedded import EmbeddedPostgres

        data_dir = Path(tempfile.mkdtemp(prefix="petstore-bench-pg-", dir="/tmp"))
        stack.callback(shutil.rmtree, data_dir, True)
        say(f"{admin_url} is unreachable ({problem}); starting an embedded PostgreSQL")
        embedded = EmbeddedPostgres(data_dir)
        admin_url = embedded.start()
        stack.callback(embedded.stop)
        where = f"embedded server in {data_dir}"
    say(f"postgres: {where}: {await server_settings(admin_url)}")
    return admin_url, where


async def create_database(
    stack: contextlib.AsyncExitStack, admin_url: str, name: str, keep: bool = False
) -> str:
    """Creates the database `name` (empty, not migrated) and returns its URL; it
    is dropped when the stack closes unless `keep`."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    if not keep:
        stack.push_async_callback(drop_database, admin_url, name)
    say(f"database: {name}")
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()
    say(f"dropped database {name}")


async def pet_ids(url: str) -> tuple[list[str], list[str]]:
    """Every pet's id in id order, and the ids of the pets that are not SOLD (so
    that their price can change) in a shuffled order that is the same every run."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("select id::text as id, status from pets order by id")
    finally:
        await conn.close()
    changeable = [row["id"] for row in rows if row["status"] != "SOLD"]
    random.Random(7).shuffle(changeable)
    return [row["id"] for row in rows], changeable
