"""Where a subscription resolver takes its rows from, and how a subscriber
that reads its own cursor meets its group again.

A resolver follows the stream through `follow(context, start)`. Without a
feed (sharing off, or a subscription that is not shared) that is the
process's EventStream from `start`. A group's pipeline follows through a
GroupFeed, which notes how far the group has delivered; a subscriber that
reads on its own (a catch-up from `after:`, or one whose queue overflowed)
follows through a CatchUpFeed, which ends as soon as its position is the
group's delivered position: from there on the group's broadcasts carry
every later event, so the subscriber joins it without a gap or a duplicate.

"Delivered" is precise: a group has delivered row R once its resolver asks
for the row after R, which it does only after the result of R (if R gave
one) went to every member. Both feeds read the same gap-free stream in the
same order, so a catch-up meets the group at exactly one position.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import RowMapping

from graphql_petstore.database.reads import StreamPosition
from graphql_petstore.database.stream import EventStream, position_of

if TYPE_CHECKING:
    from graphql_petstore.sharing.groups import Group, Member

logger = logging.getLogger(__name__)


class _Live:
    def __repr__(self) -> str:
        return "LIVE"


LIVE: Any = _Live()
"""A resolver's start: from now on (the end of the stream when it starts)."""


class Feed(Protocol):
    shared: bool

    def follow(self, stream: EventStream, start: Any) -> AsyncIterator[RowMapping]: ...


def follow(context: Any, start: Any) -> AsyncIterator[RowMapping]:
    """The rows a subscription resolver reads, after `start` (a position, or
    LIVE), in stream order."""
    feed: Feed | None = getattr(context, "subscription_feed", None)
    if feed is None:
        return _from(context.stream, start)
    return feed.follow(context.stream, start)


async def _from(stream: EventStream, start: Any) -> AsyncIterator[RowMapping]:
    if start is LIVE:
        start = await stream.end_position()
    async for row in stream.follow(start):
        yield row


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
"""A group's delivered position before its resolver has chosen its start."""


class Signal:
    """asyncio.Event without its deque of waiters (some 600 bytes, made
    whether or not anyone waits): a group, its feed and each member hold one,
    and an idle petChanged(id:) group is one per pet."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


def before(a: StreamPosition | None, b: StreamPosition | None) -> bool:
    """a < b; None is the position before every event."""
    if a is None:
        return b is not None
    return b is not None and a < b


class GroupFeed:
    """The feed of a group's one pipeline: notes each position it has delivered."""

    __slots__ = ("_group",)
    shared = True

    def __init__(self, group: Group) -> None:
        self._group = group

    async def follow(self, stream: EventStream, start: Any) -> AsyncIterator[RowMapping]:
        if start is LIVE:
            start = await stream.end_position()
        self._group.delivered_through(start)
        async for row in stream.follow(start):
            yield row
            self._group.delivered_through(position_of(row))


class CatchUpFeed:
    """A subscriber's own reading: from `resume` (when it fell behind) or
    from the resolver's start (`after:`), until it meets its group."""

    shared = False

    def __init__(self, group: Group, member: Member, resume: Any = UNKNOWN) -> None:
        self._group = group
        self._member = member
        self._resume = resume
        self.joined = False

    async def follow(self, stream: EventStream, start: Any) -> AsyncIterator[RowMapping]:
        position = start if self._resume is UNKNOWN else self._resume
        if position is LIVE:
            position = await stream.end_position()
        if await self._meets_group(position):
            return
        async for row in stream.follow(position):
            yield row
            position = position_of(row)
            if await self._meets_group(position):
                return

    async def _meets_group(self, position: StreamPosition | None) -> bool:
        self._member.position = position
        group = self._group
        while not group.ended:
            verdict = group.meets(position)
            if verdict is False:
                return False  # the group is further on: read on alone
            if verdict:
                logger.debug("group %d: a subscriber caught up at %s", group.number, position)
                group.admit(self._member)
                self.joined = True
                return True
            # The group is behind this cursor (it delivers as it reads, this
            # reader took the rows from the buffer): it comes by shortly.
            if await group.until_moved(position, self._member):
                self.joined = True
                return True
        return False
