"""One fault scenario: writers run, the fault strikes, the writers go on
until the server acknowledges writes again; then every request's outcome is
checked against the database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg

from graphql_petstore.database.doorbell import APPLICATION_NAME as DOORBELL_APPLICATION_NAME
from tests.faults.cluster import Cluster
from tests.faults.load import Load, Tally
from tests.faults.serve import Serve, verify

# Acknowledged writes before the fault, and after it as proof of recovery.
BEFORE_FAULT = 50
AFTER_FAULT = 100
RECOVERY_TIMEOUT = 40.0
# How the tests' own connections show in pg_stat_activity.
ADMIN_APPLICATION_NAME = "petstore-faults-admin"


async def under_load(serve: Serve, fault: Callable[[], Awaitable[None]]) -> Load:
    load = Load(serve.url)
    running = asyncio.create_task(load.run())
    try:
        await _until(lambda: load.acknowledged() >= BEFORE_FAULT, "writes before the fault")
        await fault()
        after = load.acknowledged()
        await _until(lambda: load.acknowledged() >= after + AFTER_FAULT, "writes after the fault")
    finally:
        load.stop()
        await running
    return load


async def checked(scenario: str, load: Load, serve: Serve, database_url: str) -> Tally:
    """Counts the outcomes (read from `database_url` as its superuser),
    retries the unknown ones with their keys, runs `verify`, and asserts that
    no client was told anything false."""
    tally = await load.tally(database_url)
    tally.retried = await load.retry_unknown()
    log = serve.log_text()
    tally.settled = log.count("settling its outcome")
    tally.settled_stored = log.count("committed before its connection was lost")
    print(tally.line(scenario))
    assert not tally.lost, f"acknowledged but not stored: {tally.lost[:5]}"
    assert not tally.stored_but_reported_failed, (
        f"stored but reported failed: {tally.stored_but_reported_failed[:5]}"
    )
    assert not tally.not_sent_but_stored, tally.not_sent_but_stored[:5]
    assert not tally.untyped, f"failures without a typed code: {tally.untyped[:5]}"
    assert tally.reported_failed + tally.unknown > 0, "the fault did not touch the load"
    verified = await asyncio.to_thread(verify, database_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    await _doorbell_listens(database_url)
    return tally


async def _doorbell_listens(database_url: str) -> None:
    """The server's LISTEN connection is back: subscribers hear of appends
    again at once instead of on their poll timeout."""
    admin = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while not await admin.fetchval(
            "select exists (select from pg_stat_activity"
            " where datname = current_database() and application_name = $1)",
            DOORBELL_APPLICATION_NAME,
        ):
            assert time.monotonic() < deadline, "the doorbell never listened again"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def restart_postgres(cluster: Cluster, mode: str, down: float = 2.0) -> None:
    await asyncio.to_thread(cluster.stop, mode)
    await asyncio.sleep(down)
    await asyncio.to_thread(cluster.start)


async def terminate_backends(database_url: str, rounds: int = 10, interval: float = 0.3) -> int:
    """pg_terminate_backend on every backend of the app on its database,
    again and again; returns how many were terminated."""
    admin = await asyncpg.connect(
        database_url, server_settings={"application_name": ADMIN_APPLICATION_NAME}
    )
    terminated = 0
    try:
        for _ in range(rounds):
            terminated += await admin.fetchval(
                "select count(*) filter (where pg_terminate_backend(pid))"
                " from pg_stat_activity"
                " where datname = current_database() and pid <> pg_backend_pid()"
                "   and backend_type = 'client backend' and application_name <> $1",
                ADMIN_APPLICATION_NAME,
            )
            await asyncio.sleep(interval)
    finally:
        await admin.close()
    return terminated


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {RECOVERY_TIMEOUT:g} s"
        await asyncio.sleep(0.05)
