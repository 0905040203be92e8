"""A group: the subscriptions of one key (sharing/keys.py) in this process,
executed once per event; and its members, each with a bounded queue of frames.

A group runs one strawberry subscription (the schema's own path, with every
extension: error codes, masking, the operation's access line) on a context of
its own, fed by a GroupFeed. Each result is made into the `payload` of a
frame once, as JSON text; a member's frame is that text between the member's
prefix (its protocol's message type and its id) and a closing brace.

The fan-out writes each member's frame to its socket itself (a FrameSink:
no task switch per member, one write per socket per event), in one pass
without a pause: a member admitted during a pause could miss the event in
hand. A member whose socket cannot take a frame now (its transport paused,
no sink under this server) or that still has queued frames gets the frame on
its queue instead, in order, and its task sends the queue (sharing/members.py).

A member whose queue is full when a result comes leaves the group at once,
remembering where the group was: it sends what it has queued, then reads on
from there by itself (CatchUpFeed) until it meets the group again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.utils.aio import aclosing

from graphql_petstore.api.library_internals import FrameSink, next_payload
from graphql_petstore.database.reads import StreamPosition
from graphql_petstore.json_output import encode
from graphql_petstore.sharing.feeds import UNKNOWN, GroupFeed, Signal, before
from graphql_petstore.sharing.index import PetFeed
from graphql_petstore.sharing.keys import Plan

if TYPE_CHECKING:
    from graphql_petstore.sharing.registry import SubscriptionGroups

logger = logging.getLogger(__name__)

_group_numbers = itertools.count(1)


class Member:
    """One subscription served by a group: its frames' prefix, its queue."""

    __slots__ = (
        "behind_since",
        "close_connection",
        "ended",
        "errors",
        "fell_behind",
        "frame_prefix",
        "frames",
        "group",
        "position",
        "prefix",
        "request_id",
        "reserved",
        "resume",
        "sent",
        "sink",
        "wake",
    )

    def __init__(
        self,
        prefix: str,
        request_id: str,
        close_connection: Callable[[int, str], Coroutine[Any, Any, None]],
        sink: FrameSink | None = None,
    ) -> None:
        self.prefix = prefix
        self.frame_prefix = prefix.encode()
        # Its socket, written to by the group's fan-out (None: the queue only).
        self.sink = sink
        self.request_id = request_id
        self.close_connection = close_connection
        # Frames waiting for the member's task (made when the first one waits).
        self.frames: deque[str] | None = None
        self.wake = Signal()
        self.group: Group | None = None
        self.ended = False  # the group's stream ended
        self.fell_behind = False  # left the group: its queue overflowed
        self.resume: Any = UNKNOWN  # where the group was when it left
        self.position: StreamPosition | None = None
        # When the member last fell behind (time.monotonic()); None while live.
        self.behind_since: float | None = None
        # Holds one of its group's reservations (see Group.reservations).
        self.reserved = False
        # For its access line: frames sent, the errors of the first that had any.
        self.sent = 0
        self.errors: list[Any] = []


class Group:
    __slots__ = (
        "_context",
        "_queue_limit",
        "_sinks",
        "_task",
        "_waiting",
        "delivered",
        "ended",
        "failed_over",
        "feed",
        "number",
        "plan",
        "registry",
        "reservations",
        "size",
        "started",
    )

    def __init__(
        self, registry: SubscriptionGroups, plan: Plan, context: Any, queue_limit: int
    ) -> None:
        self.registry = registry
        self.plan = plan
        self.number = next(_group_numbers)
        # The members by socket (a FrameSink, or None): one write per socket.
        self._sinks: dict[FrameSink | None, dict[Member, None]] = {}
        self.size = 0
        # Catch-ups that will join (or have left and will come back): the
        # group runs on while it has any, even without members.
        self.reservations = 0
        self.delivered: Any = UNKNOWN
        self.started = Signal()
        self.ended = False
        # The group's pipeline failed before it executed (an invalid document,
        # variables that do not fit): each member runs alone and says so.
        self.failed_over = False
        self._queue_limit = queue_limit
        # Catch-ups waiting for the group at a position (made when one waits).
        self._waiting: (
            dict[StreamPosition | None, list[tuple[Member, asyncio.Future[bool]]]] | None
        ) = None
        self.feed: GroupFeed | PetFeed = (
            GroupFeed(self)
            if plan.pet_id is None
            else PetFeed(self, registry.pet_index(context.stream), plan.pet_id)
        )
        self._context = dataclasses.replace(
            context, request_id=f"subscription-group-{self.number}", subscription_feed=self.feed
        )
        self._task: asyncio.Task[None] | None = None

    def start(self, schema: Any) -> None:
        # Not the creating subscriber's task context: the group outlives it.
        self._task = asyncio.create_task(
            self._run(schema),
            name=f"subscription-group-{self.number}",
            context=contextvars.Context(),
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._end()

    @property
    def idle(self) -> bool:
        return not self.size and self.reservations == 0

    # --- positions -------------------------------------------------------------

    def delivered_through(self, position: StreamPosition | None) -> None:
        first = self.delivered is UNKNOWN
        self.delivered = position
        if first:
            self.started.set()
            # Catch-ups that waited at a position before the group's start
            # never meet it there: they read on (and meet it further on).
            for waiting_at in [p for p in self._waiting or () if before(p, position)]:
                for _, waiter in self._waiting.pop(waiting_at):  # type: ignore[union-attr]
                    if not waiter.done():
                        waiter.set_result(False)
        if not self._waiting:
            return
        for member, waiter in self._waiting.pop(position, ()):
            if not waiter.done():
                self.admit(member)
                waiter.set_result(True)

    def meets(self, position: StreamPosition | None) -> bool | None:
        """Whether a member that has read the stream up to `position` by
        itself may join now (True), is to read on (False), or is to wait for
        the group (None; see until_moved)."""
        if isinstance(self.feed, PetFeed):
            return self.feed.meets(position)
        delivered = self.delivered
        if delivered is UNKNOWN or before(delivered, position):
            return None
        return bool(delivered == position)

    async def until_moved(self, position: StreamPosition | None, member: Member) -> bool:
        """Waits until the group has moved on towards `position`; True if it
        admitted `member` meanwhile."""
        if isinstance(self.feed, PetFeed):
            # Rare (a member that fell behind, ahead of its pet's group): a look
            # every few milliseconds costs less than a signal on every row.
            await asyncio.sleep(0.005)
            return False
        if self.delivered is UNKNOWN:
            await self.started.wait()
            return False
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._waiting is None:
            self._waiting = {}
        self._waiting.setdefault(position, []).append((member, waiter))
        return await waiter

    def resume_point(self) -> Any:
        if isinstance(self.feed, PetFeed):
            return self.feed.resume_point()
        return self.delivered

    def reserve(self, member: Member) -> None:
        if not member.reserved:
            member.reserved = True
            self.reservations += 1

    def _add(self, member: Member) -> None:
        members = self._sinks.get(member.sink)
        if members is None:
            members = self._sinks[member.sink] = {}
        if member not in members:
            members[member] = None
            self.size += 1

    def _remove(self, member: Member) -> None:
        members = self._sinks.get(member.sink)
        if members is not None and member in members:
            del members[member]
            self.size -= 1
            if not members:
                del self._sinks[member.sink]

    def admit(self, member: Member) -> None:
        self._add(member)
        member.group = self
        member.fell_behind = False
        if member.behind_since is not None:
            member.behind_since = None
            self.registry.caught_up(member)
        if member.reserved:
            member.reserved = False
            self.reservations -= 1

    def leave(self, member: Member) -> None:
        self._remove(member)
        if member.reserved:
            member.reserved = False
            self.reservations -= 1

    # --- the pipeline ------------------------------------------------------------------

    async def _run(self, schema: Any) -> None:
        plan = self.plan
        try:
            source = await schema.subscribe(
                plan.query,
                variable_values=plan.variables,
                context_value=self._context,
                operation_name=plan.operation_name,
            )
            first = True
            async with aclosing(source):
                async for result in source:
                    if first and (
                        isinstance(result, PreExecutionError)
                        or not isinstance(result, ExecutionResult)
                    ):
                        self.failed_over = True
                        return
                    first = False
                    self._broadcast(result)
                    # Nothing of this event is kept while the group waits for
                    # the next (a quiet pet's group may wait for hours).
                    del result
                    self._context.reset_loaders()
                    # The rows of a burst come from the stream's buffer without
                    # a pause: let the members send before the next result, so
                    # that only a member whose socket is full fills its queue.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("subscription group %d failed", self.number)
        finally:
            self._end()

    def _broadcast(self, result: ExecutionResult) -> None:
        payload = next_payload(result)
        errors = payload.get("errors")
        shared = None if errors and _names_request(errors) else encode(payload)
        body = None if shared is None else shared.encode()
        limit = self._queue_limit
        behind: list[Member] = []
        sent = 0
        for sink, members in self._sinks.items():
            direct = sink is not None and sink.ready()
            wrote = False
            for member in members:
                frames = member.frames
                if direct and not frames:
                    own = body
                    if own is None:
                        own = _own_payload(payload, member.request_id).encode()
                    try:
                        sink.send(member.frame_prefix + own + b"}")  # type: ignore[union-attr]
                    except Exception:  # the connection says it cannot: its queue has it
                        direct = False
                    else:
                        wrote = True
                        sent += 1
                        member.sent += 1
                        if errors and not member.errors:
                            member.errors = errors
                        continue
                if frames is None:
                    frames = member.frames = deque()
                elif len(frames) >= limit:
                    behind.append(member)
                    continue
                text = shared if shared is not None else _own_payload(payload, member.request_id)
                frames.append(f"{member.prefix}{text}}}")
                if errors and not member.errors:
                    member.errors = errors
                member.wake.set()
            if wrote:
                try:
                    sink.flush()  # type: ignore[union-attr]
                except Exception:  # the socket went: its members' tasks see it end
                    logger.debug("group %d: a socket refused its frames", self.number)
        for member in behind:
            self._overflow(member)
        if sent:
            self.registry.sent(sent)

    def _overflow(self, member: Member) -> None:
        self._remove(member)
        self.reserve(member)  # it comes back by itself
        member.fell_behind = True
        member.resume = self.resume_point()
        member.behind_since = time.monotonic()
        member.wake.set()
        logger.debug(
            "group %d: the queue of a subscriber of request %s overflowed at %s",
            self.number,
            member.request_id,
            self.delivered,
        )
        self.registry.fell_behind(member)

    def _end(self) -> None:
        if self.ended:
            return
        logger.debug("group %d: ended", self.number)
        self.ended = True
        self.started.set()
        for waiters in (self._waiting or {}).values():
            for _, waiter in waiters:
                if not waiter.done():
                    waiter.set_result(False)
        self._waiting = None
        for members in self._sinks.values():
            for member in members:
                member.ended = True
                member.wake.set()
        self.registry.ended(self)


def _names_request(errors: list[Any]) -> bool:
    return any(
        isinstance(error, dict) and "requestId" in (error.get("extensions") or {})
        for error in errors
    )


def _own_payload(payload: dict[str, Any], request_id: str) -> str:
    """The payload as this member alone would have got it: a masked error
    names the subscriber's own request."""
    errors = []
    for error in payload["errors"]:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if extensions and "requestId" in extensions:
            error = {**error, "extensions": {**extensions, "requestId": request_id}}
        errors.append(error)
    return encode({**payload, "errors": errors})
