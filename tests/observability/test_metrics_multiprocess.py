"""`serve --workers 2`: whichever worker answers /metrics, the counts cover
both (prometheus-client's multiprocess mode), and the gauges add up the
live workers."""

from __future__ import annotations

import asyncio
import time

import psutil
import pytest

from graphql_petstore.observability.sampler import FLUSH_INTERVAL
from tests.observability.conftest import access_lines, fresh_connection_post, scrape
from tests.observability.scrapes import series, value
from tests.subscriptions.support import API_TOKEN, ARRIVE, ServerFactory

QUERIES = 40
WRITES = 10
POOL_SIZE = 3
# A worker adds its counts to its files every FLUSH_INTERVAL seconds; the
# test allows a loaded machine much more before the counts must be exact.
SETTLED_WITHIN = 5.0


@pytest.mark.once
async def test_two_workers_report_the_operations_of_both(serve: ServerFactory) -> None:
    server = await serve(workers=2, PETSTORE_POOL_SIZE=str(POOL_SIZE))
    workers = {process.pid for process in server.workers()}
    assert len(workers) == 2

    for _ in range(QUERIES):
        await fresh_connection_post(
            server, {"query": "query Ping { pets(first: 1) { edges { cursor } } }"}
        )
    for number in range(WRITES):
        arrival = {"input": {"name": f"Pet {number}", "species": "Cat", "price": "1.00"}}
        await fresh_connection_post(server, {"query": ARRIVE, "variables": arrival}, API_TOKEN)

    # Both workers served some of them (their access lines say which).
    lines = await access_lines(server, lambda lines: len(lines) >= QUERIES + WRITES)
    assert {line["pid"] for line in lines} == workers

    # The worker that answers a scrape counts its own operations then; the
    # other's reach the scrape once it has flushed them.
    deadline = time.monotonic() + SETTLED_WITHIN
    while True:
        samples = await scrape(server)
        ping = dict(operation_type="query", operation_name="Ping", outcome="ok", code="")
        if (
            value(samples, "petstore_graphql_operations_total", **ping) == QUERIES
            and value(samples, "petstore_events_appended_total", event_type="PET_ARRIVED") == WRITES
        ):
            break
        assert time.monotonic() < deadline, "a worker's counts never reached its files"
        await asyncio.sleep(FLUSH_INTERVAL)

    for _ in range(6):  # the kernel picks the worker that answers each scrape
        samples = await scrape(server)
        ping = dict(operation_type="query", operation_name="Ping")
        assert (
            value(samples, "petstore_graphql_operations_total", **ping, outcome="ok", code="")
            == QUERIES
        )
        assert (
            value(samples, "petstore_graphql_operation_duration_seconds_count", **ping) == QUERIES
        )
        assert value(samples, "petstore_events_appended_total", event_type="PET_ARRIVED") == WRITES
        assert value(samples, "petstore_server_processes") == 2
        assert value(samples, "petstore_db_pool_size", pool="engine") == 2 * POOL_SIZE
        assert value(samples, "petstore_db_pool_size", pool="requests") == 2 * POOL_SIZE
        assert value(samples, "petstore_doorbell_connected") == 2
        cpu = series(samples, "process_cpu_seconds_total", "pid")
        assert {int(pid) for (pid,) in cpu} == workers
        assert all(psutil.Process(pid).is_running() for pid in workers)
