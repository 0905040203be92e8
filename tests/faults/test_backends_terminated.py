"""Every backend of the server terminated again and again under concurrent
writers (pg_terminate_backend, as an operator or a failover tool does)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.scenario import checked, terminate_backends, under_load
from tests.faults.serve import Serve

pytestmark = pytest.mark.once


async def test_backends_terminated_mid_load_lose_nothing_and_report_no_stored_write_failed(
    fault_database: str,
    start_serve: Callable[..., Serve],
) -> None:
    serve = start_serve()
    terminated = 0

    async def fault() -> None:
        nonlocal terminated
        terminated = await terminate_backends(serve.database_url)

    load = await under_load(serve, fault)
    print(f"{terminated} backends terminated")
    assert terminated > 0
    await checked("backends terminated", load, serve, fault_database)
