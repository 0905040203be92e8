"""Fixtures of the fault scenarios: a PostgreSQL of their own (tests/faults/
cluster.py), a database on it per test, and `serve` processes on that database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from tests.faults.cluster import Cluster
from tests.faults.serve import Serve, free_port


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    server = Cluster.create(free_port())
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest_asyncio.fixture(loop_scope="session")
async def fault_database(cluster: Cluster) -> AsyncIterator[str]:
    """A URL of an empty database of this test's own on the cluster, as its
    superuser; `serve` migrates it."""
    if not cluster.running():  # an earlier scenario failed with it stopped
        cluster.start()
    name = f"faults_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(cluster.url())
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    yield cluster.url(name)
    if not cluster.running():
        cluster.start()
    admin = await asyncpg.connect(cluster.url())
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


@pytest.fixture
def start_serve(fault_database: str, tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    """Starts `graphql-petstore serve` on the test's database (or on another
    URL of it, given as `database_url`; extra environment variables as
    keyword arguments) and waits until it is ready."""
    started: list[Serve] = []

    def start(database_url: str | None = None, **env: str) -> Serve:
        log = tmp_path / f"serve-{len(started)}.log"
        server = Serve(database_url or fault_database, log, env)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
