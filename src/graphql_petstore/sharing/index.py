"""Groups of `petChanged(id:)`, indexed by pet: one reader of the stream per
process hands each row to the groups of its pet only, so that subscribers of
different pets never do work for each other's events (one dictionary look-up
per row, however many pets are followed).

A pet's group has delivered the stream up to the index's position whenever
it is idle (no row of its pet waiting or in hand): a subscriber that catches
up alone may join it there, once it has read at least the pet's last row the
group handled and no further than the index has read.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import RowMapping

from graphql_petstore.database.reads import StreamPosition
from graphql_petstore.database.stream import EventStream, position_of
from graphql_petstore.sharing.feeds import UNKNOWN, Signal, before

if TYPE_CHECKING:
    from graphql_petstore.sharing.groups import Group


class PetIndex:
    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        self._feeds: dict[uuid.UUID, set[PetFeed]] = {}
        self.position: Any = UNKNOWN
        self.started = Signal()
        self._task: asyncio.Task[None] | None = None

    def add(self, feed: PetFeed) -> None:
        self._feeds.setdefault(feed.pet_id, set()).add(feed)
        if self._task is None:
            self.started = Signal()
            self.position = UNKNOWN
            self._task = asyncio.get_running_loop().create_task(self._run(), name="pet-index")

    def remove(self, feed: PetFeed) -> None:
        feeds = self._feeds.get(feed.pet_id)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self._feeds[feed.pet_id]
        if not self._feeds and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        try:
            self.position = await self._stream.end_position()
            self.started.set()
            async for row in self._stream.follow(self.position):
                feeds = self._feeds.get(row["pet_id"])
                if feeds:
                    for feed in feeds:
                        feed.push(row)
                self.position = position_of(row)
        finally:
            # The stream has ended (the server stops): so do the pets' groups.
            self.started.set()
            for feeds in list(self._feeds.values()):
                for feed in list(feeds):
                    feed.push(None)


class PetFeed:
    """The feed of one pet's group (an idle one holds little: a process may
    follow tens of thousands of pets)."""

    __slots__ = ("_current", "_group", "_index", "_rows", "_wake", "last", "pet_id")
    shared = True

    def __init__(self, group: Group, index: PetIndex, pet_id: uuid.UUID) -> None:
        self._group = group
        self._index = index
        self.pet_id = pet_id
        # Made when the first row comes (an empty deque is some 600 bytes).
        self._rows: deque[RowMapping | None] | None = None
        self._wake = Signal()
        self._current: RowMapping | None = None
        # The pet's last row that the group has handled (or where it started).
        self.last: Any = UNKNOWN

    def push(self, row: RowMapping | None) -> None:
        if self._rows is None:
            self._rows = deque()
        self._rows.append(row)
        self._wake.set()

    async def follow(self, stream: EventStream, start: Any) -> AsyncIterator[RowMapping]:
        # From now on (a pet's subscription has no other start): where the index is.
        index = self._index
        index.add(self)
        try:
            await index.started.wait()
            self.last = index.position
            self._group.delivered_through(self.last)
            while True:
                while self._rows:
                    row = self._rows.popleft()
                    if row is None:
                        return
                    self._current = row
                    yield row
                    self._current = None
                    self.last = position_of(row)
                    row = None  # not held while the pet is quiet
                self._rows = None  # a quiet pet's feed holds no deque
                self._wake.clear()
                await self._wake.wait()
        finally:
            index.remove(self)

    def meets(self, position: StreamPosition | None) -> bool | None:
        """True: a subscriber that has read the stream up to `position` may join
        now; False: it is to read on; None: ask again shortly."""
        if self.last is UNKNOWN or self._current is not None or self._rows:
            return None
        if before(position, self.last):
            return False
        if before(self._index.position, position):
            return None
        return True

    def resume_point(self) -> Any:
        """Where a member that missed the row in hand reads on from: just before it."""
        row = self._current
        if row is None:
            return self._index.position
        position = position_of(row)
        return StreamPosition(position.tx_id, position.seq - 1)
