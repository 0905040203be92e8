"""Gauges read from the objects that keep their own counts: the connection
pools, the subscriptions, the stream reader and the doorbell.

Reading them costs nothing on the request path. A scrape reads the serving
process's values first, and adds the operations, events and rejections that
it counted since (observability.metrics.flush). With several workers
(prometheus-client's multiprocess mode) a worker's values reach /metrics
only through its files, so each worker also flushes its counts every
FLUSH_INTERVAL seconds, samples every SAMPLE_INTERVAL seconds, and does
both when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from graphql_petstore.database.doorbell import Doorbell
from graphql_petstore.database.pool import ConnectionPool
from graphql_petstore.database.stream import EventStream
from graphql_petstore.observability import metrics

SAMPLE_INTERVAL = 1.0
FLUSH_INTERVAL = 0.1  # how stale another worker's counts may be in a scrape


class SubscriptionStats(Protocol):
    """What the sampler reads about subscriptions (read-only properties)."""

    @property
    def live_subscriptions(self) -> int: ...

    @property
    def distinct_groups(self) -> int: ...

    @property
    def messages_sent(self) -> int:
        """Results sent since the process started: only ever grows."""
        ...


class Sampler:
    def __init__(
        self,
        engine: AsyncEngine,
        pool: ConnectionPool,
        stream: EventStream,
        doorbell: Doorbell,
        subscriptions: SubscriptionStats,
    ) -> None:
        self._engine = engine
        self._pool = pool
        self._stream = stream
        self._doorbell = doorbell
        self._subscriptions = subscriptions
        self._sent_counted = subscriptions.messages_sent
        self._task: asyncio.Task[None] | None = None
        self._started = False

    def sample(self) -> None:
        metrics.flush()
        engine_pool = self._engine.pool
        if isinstance(engine_pool, QueuePool):
            metrics.POOL_SIZE.labels("engine").set(engine_pool.size())
            metrics.POOL_IN_USE.labels("engine").set(engine_pool.checkedout())
        metrics.POOL_WAITING.labels("engine").set(getattr(engine_pool, "waiting", 0))
        metrics.POOL_SIZE.labels("requests").set(self._pool.size)
        metrics.POOL_IN_USE.labels("requests").set(self._pool.in_use)
        metrics.POOL_WAITING.labels("requests").set(self._pool.waiting)
        subscriptions = self._subscriptions
        metrics.SUBSCRIPTIONS.set(subscriptions.live_subscriptions)
        metrics.SUBSCRIPTION_GROUPS.set(subscriptions.distinct_groups)
        sent = subscriptions.messages_sent
        if sent > self._sent_counted:
            metrics.SUBSCRIPTION_MESSAGES.inc(sent - self._sent_counted)
            self._sent_counted = sent
        head = self._stream.head
        if head is not None:
            metrics.STREAM_DELIVERED.set(head.tx_id)
        metrics.DOORBELL_CONNECTED.set(1 if self._doorbell.connected.is_set() else 0)

    def start(self, every: float | None) -> None:
        """Samples now and, with `every`, every so many seconds until stop()
        (and flushes the counts every FLUSH_INTERVAL seconds)."""
        metrics.PROCESSES.set(1)
        self._started = True
        self.sample()
        if every is not None:
            self._task = asyncio.create_task(self._run(every), name="metrics-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._started:
            self.sample()  # the last counts, into this worker's files
            metrics.PROCESSES.set(0)

    async def _run(self, every: float) -> None:
        flushes = max(1, round(every / FLUSH_INTERVAL))
        while True:
            for _ in range(flushes - 1):
                await asyncio.sleep(every / flushes)
                metrics.flush()
            await asyncio.sleep(every / flushes)
            self.sample()
