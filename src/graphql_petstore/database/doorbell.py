"""The doorbell: one LISTEN connection per server process.

A NOTIFY says only "something was appended"; it never carries data that a
reader relies on. Readers go back to the tables from their own cursor, so a
lost, merged or late notification costs latency, never an event. When the
listening connection drops (or PostgreSQL restarts), the doorbell rings once
so that everybody re-reads, then reconnects with backoff; meanwhile readers
fall back to polling on their timeout.

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

logger = logging.getLogger(__name__)

CHANNEL = "petstore_events"
INITIAL_BACKOFF = 0.1
MAX_BACKOFF = 5.0
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

    @property
    def generation(self) -> int:
        """Changes every time the bell rings; pass it to wait()."""
        return self._generation

    def ring(self) -> None:
        self._generation += 1
        self._rung.set()
        self._rung = asyncio.Event()

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

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.ring()

    async def _listen_forever(self) -> None:
        assert self._url is not None
        backoff = INITIAL_BACKOFF
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._url, timeout=10)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                self.connected.set()
                backoff = INITIAL_BACKOFF
                # Whatever was appended while nobody listened is read now.
                self.ring()
                while not lost.is_set():
                    try:
                        async with asyncio.timeout(HEALTH_CHECK_INTERVAL):
                            await lost.wait()
                    except TimeoutError:
                        await conn.execute("select 1", timeout=HEALTH_CHECK_INTERVAL)
                logger.warning("doorbell: the listening connection was closed")
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("doorbell: cannot listen (%s); retrying in %.1fs", exc, backoff)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            self.ring()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _on_notify(self, conn: object, pid: int, channel: str, payload: object) -> None:
        self.ring()
