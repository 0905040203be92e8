"""The network between the server and PostgreSQL cut again and again under
concurrent writers: appends whose answer was lost after they committed are
found and acknowledged, the others reported as not stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from graphql_petstore.database.appends import SETTLE_TIMEOUT
from tests.faults.cluster import Cluster
from tests.faults.load import OUTCOME_UNKNOWN, stored_events, stored_writes
from tests.faults.proxy import Proxy
from tests.faults.scenario import checked, under_load
from tests.faults.serve import Serve

pytestmark = pytest.mark.once

CUTS = 5


async def test_network_cut_mid_load_loses_nothing_and_reports_no_stored_write_failed(
    cluster: Cluster, fault_database: str, start_serve: Callable[..., Serve]
) -> None:
    proxy = Proxy(cluster.port)
    await proxy.start()
    try:
        database = urlsplit(fault_database).path.lstrip("/")
        # In a thread: the relay runs on this loop, and serve uses it as it starts.
        serve = await asyncio.to_thread(start_serve, proxy.url(database))

        async def fault() -> None:
            for _ in range(CUTS):
                proxy.cut()
                await asyncio.sleep(0.5)
                proxy.restore()
                await asyncio.sleep(1.0)

        load = await under_load(serve, fault)
        print(f"{proxy.cuts} connections cut")
        tally = await checked("network to PostgreSQL cut", load, serve, fault_database)
        # The case this scenario is for: committed, answer lost, found.
        assert tally.settled_stored > 0
        await asyncio.to_thread(serve.stop)
    finally:
        await proxy.close()


async def test_network_cut_past_the_settle_timeout_answers_outcome_unknown_and_a_retry_stores_once(
    cluster: Cluster, fault_database: str, start_serve: Callable[..., Serve]
) -> None:
    proxy = Proxy(cluster.port)
    await proxy.start()
    try:
        database = urlsplit(fault_database).path.lstrip("/")
        serve = await asyncio.to_thread(start_serve, proxy.url(database))

        async def fault() -> None:
            proxy.cut()
            await asyncio.sleep(SETTLE_TIMEOUT + 2.0)
            proxy.restore()

        load = await under_load(serve, fault)
        unknown = [a for a in load.attempts if a.code == OUTCOME_UNKNOWN]
        assert unknown, "no append was out when the network went"
        # The event id that came with each unknown outcome is the one stored,
        # if any was: a client may look it up instead of retrying.
        event_ids = [a.event_id for a in unknown if a.event_id]
        assert len(event_ids) == len(unknown), "APPEND_OUTCOME_UNKNOWN without an eventId"
        with_event = await stored_events(fault_database, event_ids)
        stored = await stored_writes(fault_database, [a.write for a in unknown])
        assert with_event == stored
        tally = await checked("network cut past the settle timeout", load, serve, fault_database)
        assert tally.settled == len(unknown)
        await asyncio.to_thread(serve.stop)
    finally:
        await proxy.close()
