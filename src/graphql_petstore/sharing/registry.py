"""The process's subscription groups, their counts, and the watch over
subscribers that fall behind.

A subscriber whose queue overflowed reads on by itself; if it has not met
its group again within `subscription_slow_limit` seconds (its socket does
not take what it is sent), its connection is closed with SLOW_CLOSE_CODE,
so that the client can subscribe again with `after:` its last cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

from graphql_petstore.database.stream import EventStream
from graphql_petstore.observability.operations import SubscriptionCounts
from graphql_petstore.settings import Settings
from graphql_petstore.sharing import keys
from graphql_petstore.sharing.groups import Group, Member
from graphql_petstore.sharing.index import PetIndex

logger = logging.getLogger(__name__)

SLOW_CLOSE_CODE = 4499
SLOW_CLOSE_REASON = "subscriber too slow: subscribe again with after: the last cursor received"
WATCH_INTERVAL = 1.0


class SubscriptionGroups:
    def __init__(self, schema: Any, settings: Settings, plain: SubscriptionCounts) -> None:
        self.schema = schema
        self._settings = settings
        # Subscriptions that strawberry executes one by one (not shared).
        self._plain = plain
        self._groups: dict[tuple[str, str | None, str, str], Group] = {}
        self._sent = 0
        self._overflows = 0
        # Shared subscriptions being served, and those of them reading alone.
        self.serving = 0
        self.alone = 0
        self._behind: set[Member] = set()
        self._closing: set[Member] = set()
        self._task: asyncio.Task[None] | None = None
        self._pet_index: PetIndex | None = None
        # asyncio keeps only weak references to tasks: these are held here.
        self._chores: set[asyncio.Task[None]] = set()

    def _chore(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._chores.add(task)
        task.add_done_callback(self._chore_done)

    def _chore_done(self, task: asyncio.Task[None]) -> None:
        self._chores.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A slow subscriber's socket may be gone by the time it is closed.
            logger.debug("subscription chore failed: %r", task.exception())

    def pet_index(self, stream: EventStream) -> PetIndex:
        if self._pet_index is None:
            self._pet_index = PetIndex(stream)
        return self._pet_index

    # --- what the sampler and the log line read ----------------------------------------

    @property
    def live_subscriptions(self) -> int:
        return self._plain.live_subscriptions + self.serving

    @property
    def distinct_groups(self) -> int:
        """Executions per event: strawberry's own, the groups', and those of
        members that read alone for now."""
        return self._plain.distinct_groups + len(self._groups) + self.alone

    @property
    def messages_sent(self) -> int:
        return self._plain.messages_sent + self._sent

    @property
    def overflows(self) -> int:
        return self._overflows

    # --- groups ---------------------------------------------------------------------------

    def plan(
        self, query: Any, operation_name: Any, variables: Any, context: Any
    ) -> keys.Plan | None:
        return keys.plan(query, operation_name, variables, context, self._settings)

    def group_for(self, plan: keys.Plan, context: Any) -> Group:
        group = self._groups.get(plan.key)
        if group is None or group.ended:
            group = Group(self, plan, context, self._settings.subscription_queue)
            self._groups[plan.key] = group
            group.start(self.schema)
        return group

    def release(self, group: Group) -> None:
        """Stops `group` if nobody is in it or coming back to it."""
        if group.idle and not group.ended:
            if self._groups.get(group.plan.key) is group:
                del self._groups[group.plan.key]
            self._chore(group.stop())

    def ended(self, group: Group) -> None:
        if self._groups.get(group.plan.key) is group:
            del self._groups[group.plan.key]

    def sent(self, count: int = 1) -> None:
        self._sent += count

    def fell_behind(self, member: Member) -> None:
        self._overflows += 1
        self._behind.add(member)

    def caught_up(self, member: Member) -> None:
        self._behind.discard(member)

    def gone(self, member: Member) -> None:
        self._behind.discard(member)
        self._closing.discard(member)

    # --- the watch ------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="subscription-groups")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for group in list(self._groups.values()):
            await group.stop()

    async def _watch(self) -> None:
        every = self._settings.subscription_log_interval
        logged_at = time.monotonic()
        logged_sent = self.messages_sent
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            self.close_the_slow()
            now = time.monotonic()
            if every and now - logged_at >= every:
                sent = self.messages_sent
                live = self.live_subscriptions
                if live or sent != logged_sent:
                    logger.info(
                        "subscriptions: %d live in %d groups; %d messages sent (%.0f/s); "
                        "%d fell behind since start, %d behind now",
                        live,
                        self.distinct_groups,
                        sent,
                        (sent - logged_sent) / (now - logged_at),
                        self._overflows,
                        len(self._behind),
                    )
                logged_at, logged_sent = now, sent

    def close_the_slow(self) -> None:
        limit = self._settings.subscription_slow_limit
        now = time.monotonic()
        for member in list(self._behind):
            since = member.behind_since
            if since is None or now - since < limit or member in self._closing:
                continue
            self._closing.add(member)
            logger.warning(
                "subscription of request %s: behind for %.0f s; closing its connection (%d)",
                member.request_id,
                now - since,
                SLOW_CLOSE_CODE,
            )
            self._chore(member.close_connection(SLOW_CLOSE_CODE, SLOW_CLOSE_REASON))
