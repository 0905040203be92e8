"""The test database (design §7).

PETSTORE_TEST_DATABASE_URL when set; else postgres:18 in a container when a
container engine answers; else the embedded PostgreSQL 18. The schema is
migrated once into a template database, and every test gets its own copy
(CREATE DATABASE … TEMPLATE …), so tests never see each other's rows.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from graphql_petstore.database.embedded import EmbeddedPostgres
from graphql_petstore.database.location import libpq_url, with_database
from graphql_petstore.database.migrations import migrate

logger = logging.getLogger(__name__)


def _container_engine_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL of a PostgreSQL server on which the tests may create databases."""
    url = os.environ.get("PETSTORE_TEST_DATABASE_URL")
    if url:
        yield libpq_url(url)
        return
    if _container_engine_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:18", driver=None) as container:
            yield container.get_connection_url()
        return
    server = EmbeddedPostgres(Path(tmp_path_factory.mktemp("embedded")))
    try:
        yield server.start()
    finally:
        server.stop()


async def _admin(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def template_database(postgres_server_url: str) -> AsyncIterator[str]:
    name = f"petstore_template_{os.getpid()}"
    admin = await _admin(postgres_server_url)
    try:
        await admin.execute(f'drop database if exists "{name}"')
        await admin.execute(f'create database "{name}"')
        await migrate(with_database(postgres_server_url, name))
        yield name
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


@pytest_asyncio.fixture(loop_scope="session")
async def database_url(postgres_server_url: str, template_database: str) -> AsyncIterator[str]:
    """A freshly migrated, empty database of this test's own."""
    name = f"petstore_test_{uuid.uuid4().hex[:16]}"
    admin = await _admin(postgres_server_url)
    try:
        await admin.execute(f'create database "{name}" template "{template_database}"')
        yield with_database(postgres_server_url, name)
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


@pytest_asyncio.fixture(loop_scope="session")
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to this test's database."""
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()
