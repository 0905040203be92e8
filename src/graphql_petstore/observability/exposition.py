"""GET /metrics: everything in the Prometheus text format (OpenMetrics when
the scraper asks for it).

One process: prometheus-client's default registry, with its process and
platform collectors. Several workers (`serve --workers N`): prometheus-client's
multiprocess mode. Every worker writes its values to files in
PROMETHEUS_MULTIPROC_DIR, and whichever worker answers the scrape adds them
all up. Counters and histograms are summed, including those of workers that
have exited. Gauges are summed, or their maximum is taken, over the live
workers only. Process metrics, which the library leaves out in that mode,
come per worker, labelled with its pid.

The stream's position and horizon are read from the database at scrape
time, by whichever process answers. They are the same for every worker.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
from prometheus_client import REGISTRY, CollectorRegistry, ProcessCollector, multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Row, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from graphql_petstore.observability.sampler import Sampler

logger = logging.getLogger(__name__)

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
# The stream gauges come from one query; a scrape waits at most this long for it.
DATABASE_TIMEOUT = 2.0
# Counting the events behind the horizon stops here: a number, not a scan.
MAX_COUNTED_HELD_BACK = 10_000

# The newest event a reader may see, the committed events it may not see yet
# (their transaction is not below the horizon), and the transaction that
# holds the horizon: the running transaction with the oldest transaction id,
# in any database of the cluster (ids are cluster-wide), or a prepared one.
# pg_stat_activity shows xact_start of other roles' sessions only to
# privileged roles (pg_read_all_stats); backend_xid it shows to everybody.
STREAM_QUERY = text(
    f"""
    with horizon as (select pg_snapshot_xmin(pg_current_snapshot()) as xmin),
    holders as (
        select backend_xid as xid, xact_start as since, datname = current_database() as here
        from pg_stat_activity where backend_xid is not null
        union all
        select transaction, prepared, database = current_database() from pg_prepared_xacts
    )
    select
        (select tx_id::text from pet_event_log, horizon where tx_id < horizon.xmin
         order by tx_id desc, seq desc limit 1) as head,
        (select count(*) from (select from pet_event_log, horizon where tx_id >= horizon.xmin
                               limit {MAX_COUNTED_HELD_BACK}) as behind) as held_back,
        holder.xid::text as holder_xid,
        extract(epoch from clock_timestamp() - holder.since)::float8 as holder_age,
        holder.here as holder_here
    from (select 1) as one
    left join lateral (select * from holders order by age(xid) desc limit 1) as holder on true
    """
)

_WORKER_FILE = re.compile(r"gauge_livesum_(\d+)\.db")


def multiprocess_directory() -> str | None:
    return os.environ.get(MULTIPROCESS_DIRECTORY) or None


def process_exiting() -> None:
    """This worker's live gauges stop counting (its counters keep theirs)."""
    directory = multiprocess_directory()
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


class HorizonClock:
    """How long the transaction holding the horizon has been open. Exact when
    pg_stat_activity shows its start, else counted from when this process
    first saw that transaction id: a lower bound."""

    def __init__(self) -> None:
        self._xid: str | None = None
        self._first_seen = 0.0

    def age(self, xid: str | None, exact: float | None) -> float:
        now = time.monotonic()
        if xid != self._xid:
            self._xid, self._first_seen = xid, now
        if xid is None:
            return 0.0
        return exact if exact is not None else now - self._first_seen


class MetricsEndpoint:
    def __init__(self, token: str | None) -> None:
        self._token = token
        self._horizon = HorizonClock()

    async def serve(self, request: Request) -> Response:
        if self._token is not None and not self._authorised(request):
            return PlainTextResponse(
                "/metrics needs Authorization: Bearer <PETSTORE_METRICS_TOKEN>",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        sampler: Sampler = request.app.state.sampler
        sampler.sample()
        stream = await stream_gauges(request.app.state.engine, self._horizon)
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(Scrape(stream)), media_type=content_type)

    def _authorised(self, request: Request) -> bool:
        assert self._token is not None
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), self._token.encode()
        )


async def stream_gauges(engine: AsyncEngine, horizon: HorizonClock) -> list[Metric]:
    """The stream's position and horizon, read now; petstore_database_up alone
    when the query fails."""
    up = GaugeMetricFamily(
        "petstore_database_up",
        f"1 when the stream gauges' query answered within {DATABASE_TIMEOUT:g} s "
        "(0: database unreachable, or no pool connection free in time)",
    )
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT):
            row = await _stream_row(engine)
    except Exception as exc:
        logger.warning("metrics: the stream gauges' query failed: %s", exc)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    age = horizon.age(row.holder_xid, row.holder_age)
    return [
        up,
        GaugeMetricFamily(
            "petstore_stream_head_transaction_id",
            "Transaction id of the newest event that stream readers may see",
            value=int(row.head) if row.head is not None else 0,
        ),
        GaugeMetricFamily(
            "petstore_stream_held_back_events",
            "Committed events that readers may not see yet because an older "
            f"transaction is still running (counted up to {MAX_COUNTED_HELD_BACK})",
            value=row.held_back,
        ),
        GaugeMetricFamily(
            "petstore_stream_horizon_age_seconds",
            "How long the oldest running transaction of the cluster (which holds "
            "the stream's horizon) has been open; 0 when none writes",
            value=age,
        ),
        GaugeMetricFamily(
            "petstore_stream_horizon_in_other_database",
            "1 when that transaction runs in another database of the cluster",
            value=1 if row.holder_here is False else 0,
        ),
    ]


async def _stream_row(engine: AsyncEngine) -> Row[Any]:
    # A pooled connection that died with the database (a restart) fails once
    # and is discarded: the next one is fresh.
    for attempt in (1, 2):
        try:
            async with engine.connect() as conn:
                return (await conn.execute(STREAM_QUERY)).one()
        except DBAPIError as exc:
            if not exc.connection_invalidated or attempt == 2:
                raise
    raise AssertionError("unreachable")


class Scrape(Collector):
    """What one scrape exposes: this process's registry, or every worker's
    files, and the stream gauges just read."""

    def __init__(self, stream: list[Metric]) -> None:
        self._stream = stream

    def collect(self) -> Iterator[Metric]:
        directory = multiprocess_directory()
        if directory is None:
            yield from REGISTRY.collect()
        else:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            yield from registry.collect()
            yield from worker_processes(directory)
        yield from self._stream


def _constant(pid: int) -> Callable[[], int]:
    return lambda: pid


def worker_processes(directory: str) -> Iterator[Metric]:
    """prometheus-client's process metrics of each live worker, labelled with
    its pid. A worker is live while its live-gauge file exists and its
    process runs; the file of one that was killed is removed here."""
    merged: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
    for path in sorted(Path(directory).glob("gauge_livesum_*.db")):
        found = _WORKER_FILE.fullmatch(path.name)
        if found is None:
            continue
        pid = int(found.group(1))
        if not psutil.pid_exists(pid):
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
            continue
        for family in ProcessCollector(pid=_constant(pid), registry=None).collect():
            kind = CounterMetricFamily if family.type == "counter" else GaugeMetricFamily
            target = merged.setdefault(
                family.name, kind(family.name, family.documentation, labels=["pid"])
            )
            for sample in family.samples:
                if not sample.name.endswith("_created"):
                    target.add_metric([str(pid)], sample.value)
    yield from merged.values()
