"""The doorbell: one LISTEN connection per server process.

A NOTIFY says only "something was appended"; it never carries data that a
reader relies on. Readers go back to the tables from their own cursor, so a
lost, merged or late notification costs latency, never an event. When the
listening connection drops (or PostgreSQL restarts), the doorbell rings once
so that everybody re-reads, then reconnects with backoff; meanwhile readers
fall back to polling on their timeout.

The server's own appends do not notify per event (NOTIFY serialises commits
cluster-wide): after each append the doorbell rings in this process at once
and sends one NOTIFY on its connection for everything appended since its last
one, so other processes hear of a burst of appends once.

In "poll" mode (for deployments without LISTEN, e.g. behind a transaction-
pooling proxy) there is no connection at all: waiters simply time out every
poll interval and re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from graphql_petstore.database.location import libpq_url
from graphql_petstore.observability import metrics

logger = logging.getLogger(__name__)

CHANNEL = "petstore_events"
# How the listening connection shows in pg_stat_activity.
APPLICATION_NAME = "graphql-petstore doorbell"
INITIAL_BACKOFF = 0.1
MAX_BACKOFF = 5.0
# At most one NOTIFY per this many seconds per process: each one takes the
# cluster-wide notify lock at commit, and back to back they still cost writers
# about a fifth of their throughput (bench/subscription_bench.py). Subscribers
# in this process are woken at once; other processes at most this much later.
ANNOUNCE_INTERVAL = 0.01
# asyncpg notices a dead socket only when it uses it; probe this often.
HEALTH_CHECK_INTERVAL = 5.0


class Doorbell:
    def __init__(self, url: str | None) -> None:
        """`url` None: poll mode, nothing listens."""
        self._url = libpq_url(url) if url else None
        self._generation = 0
        self._rung = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self._announce_pending = asyncio.Event()
        # asyncpg runs one statement at a time per connection.
        self._conn_lock = asyncio.Lock()
        self._announcer: asyncio.Task[None] | None = None

    @property
    def generation(self) -> int:
        """Changes every time the bell rings; pass it to wait()."""
        return self._generation

    def ring(self) -> None:
        self._generation += 1
        self._rung.set()
        self._rung = asyncio.Event()

    def announce(self) -> None:
        """Something was appended by this process: wake its subscribers now and
        tell the other processes with the next NOTIFY."""
        self.ring()
        self._announce_pending.set()

    async def _announce_forever(self) -> None:
        # One NOTIFY at a time, then a pause; appends made meanwhile are told
        # by the next, so a burst of appends costs a NOTIFY or two.
        while True:
            await self._announce_pending.wait()
            self._announce_pending.clear()
            conn = self._conn
            if conn is None or conn.is_closed():
                continue  # the others will find the events when they re-read
            try:
                async with self._conn_lock:
                    await conn.execute(f"notify {CHANNEL}")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("doorbell: NOTIFY failed (%s)", exc)
            await asyncio.sleep(ANNOUNCE_INTERVAL)

    async def wait(self, seen_generation: int, at_most: float) -> None:
        """Returns when the bell has rung since `seen_generation` was read, or
        after `at_most` seconds, whichever is first."""
        if self._generation != seen_generation:
            return
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
        # cancellation that arrives as the event is set, and stop() would hang.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self._rung.wait()

    async def start(self) -> None:
        if self._url is not None and self._task is None:
            self._task = asyncio.create_task(self._listen_forever(), name="doorbell")
            self._announcer = asyncio.create_task(self._announce_forever(), name="announcer")

    async def stop(self) -> None:
        for task in (self._announcer, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._announcer = None
        self.ring()

    async def _listen_forever(self) -> None:
        assert self._url is not None
        backoff = INITIAL_BACKOFF
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self._url, timeout=10, server_settings={"application_name": APPLICATION_NAME}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self._conn = conn
                self.connected.set()
                backoff = INITIAL_BACKOFF
                # Whatever was appended while nobody listened is read now.
                self.ring()
                while not lost.is_set():
                    try:
                        async with asyncio.timeout(HEALTH_CHECK_INTERVAL):
                            await lost.wait()
                    except TimeoutError:
                        async with self._conn_lock:
                            await conn.execute("select 1", timeout=HEALTH_CHECK_INTERVAL)
                logger.warning("doorbell: the listening connection was closed")
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("doorbell: cannot listen (%s); retrying in %.1fs", exc, backoff)
            finally:
                self._conn = None
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            self.ring()
            metrics.record_doorbell_reconnect()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _on_notify(self, conn: object, pid: int, channel: str, payload: object) -> None:
        self.ring()
