"""The test database (design §7).

PETSTORE_TEST_DATABASE_URL when set; else postgres:18 in a container when a
container engine answers; else the embedded PostgreSQL 18. The schema is
migrated once into a template database, and every test gets its own copy
(CREATE DATABASE … TEMPLATE …), so tests never see each other's rows.

The fixtures connect as the connecting user of the server (a superuser), as
`migrate` does; the app connects as petstore_api, as `serve` does, so every
API test also proves that petstore_api's privileges are enough.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from graphql_petstore.app import create_app
from graphql_petstore.database.api_login import api_database_url as resolve_api_database_url
from graphql_petstore.database.embedded import EmbeddedPostgres
from graphql_petstore.database.location import libpq_url, with_database
from graphql_petstore.database.migrations import migrate
from graphql_petstore.database.roles import restrict_temporary_statement
from graphql_petstore.settings import Settings

logger = logging.getLogger(__name__)


def _container_engine_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return False
    # A failed ping leaves the docker client's socket unclosed; its
    # ResourceWarning would surface (as an error) in whichever test runs when
    # the garbage collector finds it. Collect it here, where it is ignored.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            import docker

            client = docker.from_env(timeout=3)
            try:
                client.ping()
            finally:
                client.close()
        except Exception:
            return False
        finally:
            gc.collect()
    return True


_EMBEDDED_PARENT = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else "/tmp"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
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
    # Not under tmp_path_factory: the server runs as another user when the tests
    # run as root, and every pytest session that starts makes pytest's own
    # temporary root private again (chmod 700), locking the server out of its
    # files while another session's tests run. In memory where there is a
    # tmpfs: each test's CREATE DATABASE writes a few hundred files, which
    # takes ten times longer on a disk.
    data_dir = Path(tempfile.mkdtemp(prefix="petstore-tests-", dir=_EMBEDDED_PARENT))
    server = EmbeddedPostgres(data_dir)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


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
        # A database's own ACL is not copied from its template; migrate would
        # set it (roles.prepare), as it does on the template.
        await admin.execute(restrict_temporary_statement(name))
        yield with_database(postgres_server_url, name)
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


@pytest_asyncio.fixture(loop_scope="session")
async def api_database_url(database_url: str) -> str:
    """This test's database as `serve` logs in to it: as petstore_api."""
    return await resolve_api_database_url(Settings(), database_url)


@pytest_asyncio.fixture(loop_scope="session")
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to this test's database."""
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest_asyncio.fixture(loop_scope="session")
async def empty_database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A new database of this test's own with nothing in it: not migrated."""
    name = f"petstore_empty_{uuid.uuid4().hex[:16]}"
    admin = await _admin(postgres_server_url)
    try:
        await admin.execute(f'create database "{name}"')
        yield with_database(postgres_server_url, name)
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


# --- the API, in-process -------------------------------------------------------

API_TOKEN = "test-token-0123456789"
API_TOKEN_NAME = "tester"


@pytest.fixture
def settings() -> Settings:
    """Settings for an in-process app: one known token, default limits."""
    return Settings(api_tokens={API_TOKEN: API_TOKEN_NAME})


@pytest_asyncio.fixture(loop_scope="session")
async def app(settings: Settings, api_database_url: str) -> AsyncIterator[Starlette]:
    """The real application on this test's database, its lifespan running,
    logged in as petstore_api."""
    application = create_app(settings, api_database_url)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app through httpx's ASGI transport."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://petstore.test") as http:
        yield http


class GraphQLClient:
    """Posts GraphQL documents; `write` adds the test token."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def query(
        self, document: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": document, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def write(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.query(document, variables, token=API_TOKEN)


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)
