"""SIGTERM with subscriptions open: the server says goodbye and exits."""

from __future__ import annotations

import signal
import time

import asyncpg
import psutil
import pytest

from tests.subscriptions.support import ServerFactory, connect, sql_arrive

# 1000 normal closure, 1001 going away, 1012 service restart (uvicorn's).
GOODBYE_CODES = {1000, 1001, 1012}


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_closes_open_subscriptions_and_the_server_exits(
    serve: ServerFactory, conn: asyncpg.Connection, workers: int
) -> None:
    # A long poll interval: the subscriptions are asleep in their wait.
    server = await serve(workers=workers, PETSTORE_POLL_INTERVAL="60")
    await sql_arrive(conn, "Rex")

    async with connect(server) as first, connect(server) as second:
        streams = [await first.events(after="0"), await second.pet_changed()]
        await streams[0].take(1)
        await streams[1].expect_nothing(0.3)

        workers_before = server.workers()
        assert len(workers_before) == workers
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        closes = [await first.wait_closed(10), await second.wait_closed(10)]
        exit_code = await server.wait_for_exit(10)
        took = time.monotonic() - started

    assert exit_code == 0, server.log()
    assert took < 10, server.log()
    for code, _reason in closes:
        assert code in GOODBYE_CODES, (closes, server.log())
    assert not [w for w in workers_before if alive(w)]


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
