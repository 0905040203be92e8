"""PostgreSQL stopped and started again under concurrent writers: no
acknowledged write is lost, and no stored write is reported failed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.cluster import Cluster
from tests.faults.scenario import checked, restart_postgres, under_load
from tests.faults.serve import Serve

pytestmark = pytest.mark.once


async def test_postgres_stopped_fast_mid_load_loses_nothing_and_reports_no_stored_write_failed(
    cluster: Cluster, fault_database: str, start_serve: Callable[..., Serve]
) -> None:
    serve = start_serve()
    load = await under_load(serve, lambda: restart_postgres(cluster, "fast"))
    await checked("postgres stopped fast", load, serve, fault_database)


async def test_postgres_crashed_mid_load_loses_nothing_and_reports_no_stored_write_failed(
    cluster: Cluster, fault_database: str, start_serve: Callable[..., Serve]
) -> None:
    serve = start_serve()
    load = await under_load(serve, lambda: restart_postgres(cluster, "immediate"))
    await checked("postgres stopped immediately", load, serve, fault_database)


async def test_postgres_crashed_on_strawberrys_path_loses_nothing_and_reports_no_false_failure(
    cluster: Cluster, fault_database: str, start_serve: Callable[..., Serve]
) -> None:
    serve = start_serve(PETSTORE_COMPILED_OPERATIONS="off")
    load = await under_load(serve, lambda: restart_postgres(cluster, "immediate"))
    await checked("postgres stopped immediately, strawberry's path", load, serve, fault_database)
