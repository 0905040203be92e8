"""The per-process tail of the event stream, and subscribers' cursors on it.

Order and completeness come from the tables, not from notifications: events
are read in (tx_id, seq) order and only below the oldest running transaction
(see reads.events_page), so a position, once passed, never has an event
committed behind it.

One reader per process follows the head of the stream when the doorbell rings
and keeps the most recent events in a bounded buffer. A subscriber whose
cursor lies within the buffer takes its events from there, without a query;
one that is further behind (a catch-up from an old cursor, or a client too
slow to keep up) reads its own batches from the database until it reaches the
buffer. A slow subscriber therefore costs a cursor, never memory.

The reader follows the head only while somebody subscribes: an idle server
spends nothing on the events that others write. When the first subscriber
comes back, the buffer restarts at the then current end of the stream.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from graphql_petstore.database import reads
from graphql_petstore.database.doorbell import Doorbell
from graphql_petstore.database.reads import StreamPosition
from graphql_petstore.observability import metrics

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# A read that meets a connection the database has dropped (restart, failover)
# is tried once more on a fresh one: the pool discards the dead connection.
READ_ATTEMPTS = 2
BUFFER_SIZE = 2_000
PET_STATE_CACHE_SIZE = 4_096


T = TypeVar("T")


def position_of(row: RowMapping) -> StreamPosition:
    return StreamPosition(int(row["tx_id"]), row["seq"])


def _page_after(
    position: StreamPosition | None,
) -> Callable[[AsyncConnection], Awaitable[list[RowMapping]]]:
    return functools.partial(
        reads.events_page, where=reads.EventFilter(), first=BATCH_SIZE, after=position
    )


class EventStream:
    def __init__(self, engine: AsyncEngine, doorbell: Doorbell, poll_interval: float) -> None:
        self._engine = engine
        self._doorbell = doorbell
        self._poll_interval = poll_interval
        # The buffer: every event after _buffer_start up to _head, as two
        # parallel lists so that a subscriber finds its place by bisection.
        self._positions: list[StreamPosition] = []
        self._rows: list[RowMapping] = []
        self._buffer_start: StreamPosition | None = None
        self._head: StreamPosition | None = None
        self._advanced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._followers = 0
        self._has_followers = asyncio.Event()
        self._pet_states: OrderedDict[object, dict[str, Any] | None] = OrderedDict()

    async def start(self) -> None:
        self._head = await self.end_position()
        self._buffer_start = self._head
        self._task = asyncio.create_task(self._follow_head(), name="event-stream")

    async def stop(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._wake()

    @property
    def head(self) -> StreamPosition | None:
        return self._head

    async def end_position(self) -> StreamPosition | None:
        """The position of the last event that a reader may see now (None: no event yet)."""

        async def last(conn: AsyncConnection) -> StreamPosition | None:
            row = (
                await conn.execute(
                    text(
                        "select tx_id::text as tx_id, seq from pet_event_log"
                        " where tx_id < pg_snapshot_xmin(pg_current_snapshot())"
                        " order by pet_event_log.tx_id desc, seq desc limit 1"
                    )
                )
            ).first()
            return None if row is None else StreamPosition(int(row.tx_id), row.seq)

        return await self._read(last)

    async def _read(self, query: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                async with self._engine.connect() as conn:
                    return await query(conn)
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt == READ_ATTEMPTS:
                    raise
                logger.warning("event stream: the database dropped a connection; reading again")
        raise AssertionError("unreachable")

    async def follow(self, after: StreamPosition | None) -> AsyncIterator[RowMapping]:
        """Every event after `after` (None: from the very beginning), in stream
        order, then live; ends when the stream stops."""
        self._followers += 1
        self._has_followers.set()
        try:
            async for row in self._follow(after):
                yield row
        finally:
            self._followers -= 1
            if self._followers == 0:
                self._has_followers.clear()

    async def _follow(self, after: StreamPosition | None) -> AsyncIterator[RowMapping]:
        position = after
        while not self._closed:
            waiting_since = self._advanced
            rows = self._from_buffer(position)
            if rows is None:
                rows = await self._read(_page_after(position))
                rows = rows[:BATCH_SIZE]
            for row in rows:
                position = position_of(row)
                yield row
            if not rows:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_interval):
                        await waiting_since.wait()

    async def pet_after(self, event: RowMapping) -> dict[str, Any] | None:
        """The pet as it was right after `event`, folded by pet_fold() from its
        history (shared by every subscriber of this process)."""
        key = event["id"]
        if key in self._pet_states:
            self._pet_states.move_to_end(key)
            return self._pet_states[key]
        row = await self._read(
            lambda conn: reads.pet_at_version(conn, event["pet_id"], event["pet_version"])
        )
        # A dict: a row keeps its result's metadata (some 2 KiB, one per
        # statement), and the cache holds thousands.
        state = None if row is None else dict(row)
        self._pet_states[key] = state
        if len(self._pet_states) > PET_STATE_CACHE_SIZE:
            self._pet_states.popitem(last=False)
        return state

    def _from_buffer(self, position: StreamPosition | None) -> list[RowMapping] | None:
        """The buffered events after `position`; None when the buffer does not
        reach back to it (read from the database instead)."""
        start, head = self._buffer_start, self._head
        if start is not None and (position is None or position < start):
            return None
        if position is not None and head is not None and position > head:
            # A cursor from a reader that saw further than this tail has read
            # yet: nothing to serve until the tail passes it.
            return []
        if start is None and position is None and head is None:
            return []
        index = 0 if position is None else bisect.bisect_right(self._positions, position)
        return self._rows[index : index + BATCH_SIZE]

    async def _follow_head(self) -> None:
        while not self._closed:
            if not self._has_followers.is_set():
                await self._has_followers.wait()
                await self._restart_at_the_end()
            seen = self._doorbell.generation
            try:
                rows = await self._read(_page_after(self._head))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("event stream: reading the head failed; retrying")
                await asyncio.sleep(self._poll_interval)
                continue
            metrics.record_stream_delivery(row["created_at"] for row in rows[:BATCH_SIZE])
            for row in rows[:BATCH_SIZE]:
                position = position_of(row)
                self._positions.append(position)
                self._rows.append(row)
                self._head = position
            if len(self._rows) > BUFFER_SIZE:
                evicted = len(self._rows) - BUFFER_SIZE
                self._buffer_start = self._positions[evicted - 1]
                del self._positions[:evicted], self._rows[:evicted]
            if rows:
                self._wake()
            if len(rows) > BATCH_SIZE:
                continue
            # Besides the doorbell, look again after poll_interval: an event
            # can become visible without a notification of its own, when the
            # transaction that held the horizon back ends (or in poll mode).
            await self._doorbell.wait(seen, self._poll_interval)

    async def _restart_at_the_end(self) -> None:
        # The buffer must stay one unbroken stretch of the stream: after an idle
        # spell, start a new one at the end instead of reading the gap.
        try:
            end = await self.end_position()
        except Exception:
            logger.exception("event stream: reading the end of the stream failed")
            return
        if end != self._head:
            self._positions.clear()
            self._rows.clear()
            self._buffer_start = self._head = end
            self._wake()

    def _wake(self) -> None:
        woken, self._advanced = self._advanced, asyncio.Event()
        woken.set()
