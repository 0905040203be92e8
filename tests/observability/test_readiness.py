"""/readyz follows the database: not ready (with the reason) while it is
unreachable, ready again when it returns; /healthz stays cheap and up."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from graphql_petstore.database.embedded import EmbeddedPostgres
from graphql_petstore.database.location import with_database
from graphql_petstore.database.migrations import load_migrations, migrate
from graphql_petstore.observability.health import check_readiness
from tests.observability.scrapes import parse, value
from tests.subscriptions.support import ARRIVE, Server, start_server

DEADLINE = 60.0


async def test_a_database_that_does_not_answer_is_not_ready_within_the_time_given() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accepts, then never says a word

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        readiness = await check_readiness(
            f"postgresql://nobody@127.0.0.1:{port}/nothing", load_migrations(), within=0.3
        )
    finally:
        for writer in accepted:
            writer.close()
        listener.close()
        await listener.wait_closed()
    assert not readiness.ready
    assert readiness.status_code == 503
    assert readiness.body == {
        "status": "unavailable",
        "database": "unreachable",
        "reason": "the database did not answer within 0.3 s",
    }


async def test_a_database_without_the_migrations_is_not_ready(empty_database_url: str) -> None:
    readiness = await check_readiness(empty_database_url, load_migrations())
    assert (readiness.ready, readiness.body["migrations"]) == (False, "pending")
    assert "graphql-petstore migrate" in readiness.body["reason"]


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of this test's own, which it may stop and start (short
    path: the server's unix socket lives under it)."""
    data_dir = Path(tempfile.mkdtemp(prefix="ps-ready-", dir="/tmp"))
    server = EmbeddedPostgres(data_dir)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def readyz(server: Server) -> httpx.Response:
    return await server.http.get("/readyz", timeout=10)


async def until_status(server: Server, status: int) -> httpx.Response:
    deadline = time.monotonic() + DEADLINE
    while True:
        response = await readyz(server)
        if response.status_code == status:
            return response
        assert time.monotonic() < deadline, (response.status_code, response.text, server.log())
        await asyncio.sleep(0.2)


@pytest.fixture
async def serving(own_postgres: EmbeddedPostgres, tmp_path: Path) -> AsyncIterator[Server]:
    admin_url = own_postgres.start()
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute("create database ready")
    finally:
        await admin.close()
    url = with_database(admin_url, "ready")
    await migrate(url)
    server = await start_server(url, tmp_path)
    try:
        yield server
    finally:
        await server.close()


@pytest.mark.once
async def test_readyz_is_not_ready_while_the_database_is_down_and_ready_when_it_returns(
    own_postgres: EmbeddedPostgres, serving: Server
) -> None:
    ready = await readyz(serving)
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})

    own_postgres.stop()
    down = await until_status(serving, 503)
    body = down.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "unreachable"
    assert body["reason"].startswith("cannot reach the database")
    healthz = await serving.http.get("/healthz")
    assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})

    own_postgres.start()
    back = await until_status(serving, 200)
    assert back.json() == {"status": "ready"}
    # The pool recovers too: a write goes through, and nothing stays checked out.
    deadline = time.monotonic() + DEADLINE
    while True:
        written = await serving.http.post(
            "/graphql",
            json={
                "query": ARRIVE,
                "variables": {"input": {"name": "Back", "species": "Cat", "price": "1.00"}},
            },
            headers={"Authorization": "Bearer subscriptions-test-token"},
        )
        if "errors" not in written.json():
            break
        assert time.monotonic() < deadline, written.text
        await asyncio.sleep(0.2)
    samples = parse((await serving.http.get("/metrics")).text)
    for pool in ("engine", "requests"):
        assert value(samples, "petstore_db_pool_in_use", pool=pool) == 0
    assert value(samples, "petstore_database_up") == 1
