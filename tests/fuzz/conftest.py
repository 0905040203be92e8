"""One real `graphql-petstore serve` process per fuzz module, on a database of
the module's own with a small history written through the API, so that
fuzzed ids, cursors and instants often name something that exists.

Each test checks the store with `verify` when it ends (tests may run in any
order, so "afterwards" is after every test).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from graphql_petstore.database.location import with_database
from graphql_petstore.database.replay import verify
from graphql_petstore.database.roles import restrict_temporary_statement
from tests.fuzz.target import FuzzTarget, seed_history
from tests.subscriptions.support import start_server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_database_url(postgres_server_url: str, template_database: str) -> AsyncIterator[str]:
    name = f"petstore_fuzz_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'create database "{name}" template "{template_database}"')
        await admin.execute(restrict_temporary_statement(name))
        yield with_database(postgres_server_url, name)
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_target(
    fuzz_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FuzzTarget]:
    log_dir: Path = tmp_path_factory.mktemp("fuzz-serve")
    server = await start_server(fuzz_database_url, log_dir)
    try:
        target = FuzzTarget(server, fuzz_database_url)
        target.history = await seed_history(server)
        yield target
    finally:
        await server.close()


@pytest_asyncio.fixture(loop_scope="session")
async def target(fuzz_target: FuzzTarget) -> AsyncIterator[FuzzTarget]:
    """The module's server; the store must verify after the test."""
    yield fuzz_target
    assert fuzz_target.server.process.poll() is None, (
        f"the server exited:\n{fuzz_target.server.log()}"
    )
    drifts = await verify(fuzz_target.database_url, progress=False)
    assert drifts == [], drifts
