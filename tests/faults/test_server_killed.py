"""The server SIGKILLed under concurrent writers and started again: clients
see resets (outcome unknown to them), but nothing acknowledged is lost and
the history still folds into pets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.faults.scenario import checked, under_load
from tests.faults.serve import Serve

pytestmark = pytest.mark.once


async def test_server_killed_mid_load_loses_nothing_acknowledged(
    fault_database: str,
    start_serve: Callable[..., Serve],
) -> None:
    serve = start_serve()

    async def fault() -> None:
        serve.kill()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(serve.start)

    load = await under_load(serve, fault)
    tally = await checked("server SIGKILLed", load, serve, fault_database)
    assert tally.unknown > 0, "no request was out when the server was killed"
