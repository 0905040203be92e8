"""The PostgreSQL server a benchmark runs on, and its fresh bench database."""

from __future__ import annotations

import contextlib
import random
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import psutil

from graphql_petstore.database.location import with_database
from harness.cpu import Processes
from harness.report import say

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    """One asyncpg connection, closed on the way out."""
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def reachable(url: str) -> str | None:
    """None when a connection succeeds, else why not."""
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def server_settings(url: str) -> str:
    async with connected(url) as conn:
        version = await conn.fetchval("show server_version")
        rows = await conn.fetch(
            "select name, setting from pg_settings where name in"
            " ('synchronous_commit', 'fsync', 'shared_buffers', 'max_connections')"
            " order by name"
        )
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
    async with connected(admin_url) as admin:
        await admin.execute(f'create database "{name}"')
    if not keep:
        stack.push_async_callback(drop_database, admin_url, name)
    say(f"database: {name}")
    return with_database(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    async with connected(admin_url) as conn:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    say(f"dropped database {name}")


async def pet_ids(url: str) -> tuple[list[str], list[str]]:
    """Every pet's id in id order, and the ids of the pets that are not SOLD (so
    that their price can change) in a shuffled order that is the same every run."""
    async with connected(url) as conn:
        rows = await conn.fetch("select id::text as id, status from pets order by id")
    changeable = [row["id"] for row in rows if row["status"] != "SOLD"]
    random.Random(7).shuffle(changeable)
    return [row["id"] for row in rows], changeable


async def postgres_processes(url: str) -> Processes | None:
    """The server's processes (postmaster and children) when it runs on this
    machine, found from the pid of one backend."""
    async with connected(url) as conn:
        try:
            # Looked up while the backend still exists.
            postmaster = psutil.Process(await conn.fetchval("select pg_backend_pid()")).parent()
            if postmaster is None or "postgres" not in postmaster.name():
                return None
        except psutil.Error:
            return None

    # The path, not the last "/": a socket directory may follow in ?host=/….
    database = urllib.parse.urlsplit(url).path.lstrip("/")

    def ours(process: psutil.Process) -> bool:
        # Titles: "postgres: walwriter" (background work of the whole server:
        # counted) or "postgres: user database host(port) state" (a client
        # backend: counted when it serves the bench database, so that other
        # programs' sessions on a shared server land in "other").
        try:
            title = " ".join(process.cmdline())
        except psutil.Error:
            return False
        client_backend = "[local]" in title or re.search(r"\(\d+\)", title) is not None
        return not client_backend or f" {database} " in title

    def group() -> list[psutil.Process]:
        try:
            return [postmaster, *filter(ours, postmaster.children())]
        except psutil.Error:
            return []

    return group
