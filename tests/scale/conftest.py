"""Fixtures of the scale tests: a primary with two streaming replicas of
their own (cluster.py), and a database per test on it, migrated, present on
every replica that runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import pytest_asyncio

from graphql_petstore.database.migrations import migrate
from graphql_petstore.database.roles import API_ROLE, restrict_temporary_statement
from tests.scale.cluster import Cluster, Postgres

REPLICATION_TIMEOUT = 30.0
# What serve logs in as (its privileges come over to the replicas with the rest).
API_USER = API_ROLE


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    try:
        made.start_primary()
        made.add_replica()
        made.add_replica()
        yield made
    finally:
        made.remove()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def cluster_template(cluster: Cluster) -> str:
    name = "petstore_scale_template"
    admin = await asyncpg.connect(cluster.primary.url())
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    await migrate(cluster.primary.url(name))
    return name


@pytest_asyncio.fixture(loop_scope="session")
async def scale_database(cluster: Cluster, cluster_template: str) -> AsyncIterator[str]:
    """The name of a freshly migrated database of this test's own on the
    cluster's primary, once every running replica has it too."""
    name = f"petstore_scale_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(cluster.primary.url())
    try:
        await admin.execute(f'create database "{name}" template "{cluster_template}"')
        await admin.execute(restrict_temporary_statement(name))
        for replica in cluster.replicas:
            if replica.running():
                await wait_for_database(replica, name)
        yield name
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


async def wait_for_database(server: Postgres, name: str) -> None:
    deadline = time.monotonic() + REPLICATION_TIMEOUT
    while True:
        try:
            conn = await asyncpg.connect(server.url(name), timeout=5)
        except (OSError, asyncpg.PostgresError):
            assert time.monotonic() < deadline, f"{name} never reached {server.name}"
            await asyncio.sleep(0.05)
            continue
        await conn.close()
        return


async def caught_up(cluster: Cluster) -> None:
    """Returns once every running replica has replayed all the primary wrote."""
    primary = await asyncpg.connect(cluster.primary.url())
    try:
        target = await primary.fetchval("select pg_current_wal_lsn()::text")
    finally:
        await primary.close()
    for replica in cluster.replicas:
        if not replica.running():
            continue
        conn = await asyncpg.connect(replica.url())
        try:
            deadline = time.monotonic() + REPLICATION_TIMEOUT
            while not await conn.fetchval(
                "select pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target
            ):
                assert time.monotonic() < deadline, f"{replica.name} never caught up"
                await asyncio.sleep(0.02)
        finally:
            await conn.close()
