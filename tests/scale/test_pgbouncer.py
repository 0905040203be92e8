"""Through a real PgBouncer (Debian's 1.18, pool_mode = transaction, no
max_prepared_statements) in front of the primary: with
PETSTORE_DATABASE_POOLER=transaction every mutation, query and rule
violation works, on both request paths; without it, prepared statements
break; subscriptions work in poll mode; serve refuses listen mode through a
transaction pooler and notices one it was not told about."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from graphql_petstore.app import create_app
from graphql_petstore.database.engine import session_settings
from graphql_petstore.database.migrations import migrate
from graphql_petstore.database.pool import pool_settings
from tests.conftest import GraphQLClient
from tests.scale import workload
from tests.scale.cluster import Cluster
from tests.scale.conftest import API_USER
from tests.scale.petstore import serve_exits, settings
from tests.scale.proxies import PgBouncer
from tests.subscriptions.support import (
    connect,
    sql_arrive,
    sql_change_price,
    start_server,
)

pytestmark = pytest.mark.once

# Fewer server sessions than clients, so that transactions of one client
# connection keep landing on different sessions.
POOL_SIZE = 4


@pytest.fixture(scope="module")
def bouncer(cluster: Cluster) -> Iterator[PgBouncer]:
    proxy = PgBouncer(cluster.primary.url(), pool_size=POOL_SIZE)
    try:
        yield proxy
    finally:
        proxy.stop()


@contextlib.asynccontextmanager
async def client_of(url: str, **overrides: object) -> AsyncIterator[GraphQLClient]:
    app = create_app(settings(**overrides), url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://petstore.test") as http:
            yield GraphQLClient(http)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "strawberry"])
async def test_every_mutation_query_and_rule_violation_works_through_pgbouncer(
    bouncer: PgBouncer, scale_database: str, compiled: bool
) -> None:
    async with client_of(
        bouncer.url(scale_database, API_USER),
        database_pooler="transaction",
        compiled_operations=compiled,
    ) as gql:
        outcome = await workload.run(gql, clients=8)
    assert outcome.operations == 200
    assert outcome.failures == []


async def test_without_the_pooler_setting_prepared_statements_fail_through_pgbouncer(
    cluster: Cluster, scale_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    # What PETSTORE_DATABASE_POOLER=transaction is for: the statement caches
    # of a server that believes it has sessions of its own. (A PgBouncer
    # that drops the session settings the server sends at connect, as one
    # configured for such a server would: a stock one refuses them outright.)
    lenient = PgBouncer(
        cluster.primary.url(),
        pool_size=POOL_SIZE,
        ignore_startup_parameters=", ".join(pool_settings(session_settings(1))),
    )
    try:
        async with client_of(lenient.url(scale_database, API_USER)) as gql:
            outcome = await workload.run(gql, clients=8)
    finally:
        lenient.stop()
    assert outcome.failures, "every operation worked without the setting"
    # Masked for the client; the log says why.
    assert 'prepared statement "__asyncpg_stmt_' in caplog.text
    print(f"without the setting: {len(outcome.failures)} of {outcome.operations} failed")


async def test_two_servers_poll_subscriptions_through_pgbouncer(
    cluster: Cluster, scale_database: str, tmp_path: Path
) -> None:
    """Each server's start-up and work leave nothing behind in the server
    sessions that PgBouncer hands the other (here: one session for all, so
    that a named statement left by one would meet the other's): two servers
    through one PgBouncer, writes through one reaching the subscriber of the
    other."""
    narrow = PgBouncer(cluster.primary.url(), pool_size=1)
    # Migrated as serve would: the two servers' start-ups are then alike.
    await migrate(cluster.primary.url(scale_database))
    servers = []
    direct = await asyncpg.connect(cluster.primary.url(scale_database))
    try:
        for _ in range(2):
            servers.append(
                await start_server(
                    cluster.primary.url(scale_database),
                    tmp_path,
                    PETSTORE_API_DATABASE_URL=narrow.url(scale_database, API_USER),
                    PETSTORE_DATABASE_POOLER="transaction",
                    PETSTORE_POLL_INTERVAL="0.3",
                )
            )
        one, two = servers
        pet = await sql_arrive(direct, "Rex")
        async with connect(two) as ws:
            stream = await ws.events(after="0")
            (arrival,) = await stream.take(1)
            written = [await one.change_price(pet, "11.00")]
            written.append(await sql_change_price(direct, pet, "12.00"))
            written.append(await two.change_price(pet, "13.00"))
            received = await stream.take(3)
            assert [event["id"] for event in received] == written
            assert [event["newPrice"] for event in received] == ["11.00", "12.00", "13.00"]
        assert [arrival, *received] == await one.events_page_by_page()
        # Nobody listens: the server knows LISTEN cannot work through the pooler.
        assert "doorbell" not in await direct.fetchval(
            "select string_agg(application_name, ',') from pg_stat_activity"
        )
    finally:
        await direct.close()
        for server in servers:
            await server.close()
        narrow.stop()


async def test_serve_refuses_listen_mode_through_a_transaction_pooler(
    cluster: Cluster, bouncer: PgBouncer, scale_database: str
) -> None:
    code, stderr = await asyncio.to_thread(
        serve_exits,
        {
            "DATABASE_URL": cluster.primary.url(scale_database),
            "PETSTORE_API_DATABASE_URL": bouncer.url(scale_database, API_USER),
            "PETSTORE_DATABASE_POOLER": "transaction",
            "PETSTORE_SUBSCRIPTIONS": "listen",
        },
    )
    assert code == 2, stderr
    assert "PETSTORE_SUBSCRIPTIONS=listen cannot work through a transaction pooler" in stderr


async def test_serve_notices_a_transaction_pooler_it_was_not_told_about(
    cluster: Cluster, bouncer: PgBouncer, scale_database: str
) -> None:
    code, stderr = await asyncio.to_thread(
        serve_exits,
        {
            "DATABASE_URL": cluster.primary.url(scale_database),
            "PETSTORE_API_DATABASE_URL": bouncer.url(scale_database, API_USER),
        },
    )
    assert code == 2, stderr
    assert "reaches PostgreSQL through a transaction-pooling proxy" in stderr
    assert "PETSTORE_DATABASE_POOLER=transaction" in stderr
