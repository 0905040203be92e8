"""Which database server answers a read: the primary or a streaming replica.

Both request paths ask one Router (app.state.router): the compiled path for
its one statement, strawberry's resolvers and DataLoaders for theirs. A
request is routed once, before its first read, and every read of it goes to
that node (so one response never mixes two servers' views), unless the node
fails under it.

    primary   mutations and their payloads, pet(asOf:), subscriptions and the
              event stream, reads when no replica is up, and reads whose
              consistency token no replica replayed within the bound
    replicas  every other query, in turn (round robin); one that fails is
              skipped until its next health check finds it answering again

A read with a consistency token (database/consistency.py) goes to a replica
only once that replica sees the token's event, waiting at most
`consistency_wait` seconds, then to the primary. Without a token a replica
answers with whatever lag it has. Each node says in the response's
`extensions.servedBy` who answered, a replica its lag as last measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from graphql_petstore.database.cluster_status import ClusterStatus, ReplicaState
from graphql_petstore.database.pool import ConnectionPool, PoolTimeoutError, connection_lost

logger = logging.getLogger(__name__)

T = TypeVar("T")

PRIMARY = "primary"
# A replica's health and lag are measured this often.
CHECK_INTERVAL = 1.0
# A replica that takes longer than this to connect or answer a check is down.
CHECK_TIMEOUT = 2.0
REPLICA_CONNECT_TIMEOUT = 2.0
# While a read waits for its token, the replica is asked again after these
# pauses (doubling up to the last).
RECHECK_FIRST = 0.002
RECHECK_MAX = 0.05

_REPLAYED = "select exists (select from events where id = $1)"
# A standby's lag: none while it has replayed all it received; else the time
# since the last commit it replayed. pg_is_in_recovery() is false on a
# replica that was promoted: it no longer follows the primary.
_HEALTH = """
select pg_is_in_recovery() as standby,
       case when pg_last_wal_receive_lsn() is not distinct from pg_last_wal_replay_lsn() then 0
            else extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp())
       end::float8 as lag
"""
# "canceling statement due to conflict with recovery": the standby replayed
# something the read's snapshot still needed. The primary has no such conflict.
_RECOVERY_CONFLICT = "40001"


class Node:
    """One database server: its lean pool (compiled path, appends, checks) and
    SQLAlchemy engine (strawberry's path)."""

    def __init__(
        self, name: str, pool: ConnectionPool, engine: AsyncEngine, *, replica: bool
    ) -> None:
        self.name = name
        self.pool = pool
        self.engine = engine
        self.replica = replica
        self.up = not replica  # a replica is up once a check has found it so
        self.checked = False  # whether a check (or a read) has told yet
        self.lag_seconds: float | None = None
        # The health check's own connection: a pool that requests keep busy
        # must not make a replica look dead.
        self.health_connection: asyncpg.Connection | None = None

    def __repr__(self) -> str:
        return f"Node({self.name!r}, up={self.up})"


class Route:
    """Where one request reads, and how it came to read there."""

    __slots__ = ("fallback_from", "node", "token", "waited")

    def __init__(
        self,
        node: Node,
        token: uuid.UUID | None = None,
        waited: float = 0.0,
        fallback_from: str | None = None,
    ) -> None:
        self.node = node
        self.token = token
        self.waited = waited
        self.fallback_from = fallback_from

    def extensions(self) -> dict[str, Any]:
        """The response's `extensions` (both request paths add the same)."""
        served: dict[str, Any] = {"node": self.node.name}
        if self.node.replica and self.node.lag_seconds is not None:
            served["lagSeconds"] = round(self.node.lag_seconds, 3)
        if self.token is not None:
            served["waitedSeconds"] = round(self.waited, 3)
        if self.fallback_from is not None:
            served["fallbackFrom"] = self.fallback_from
        return {"servedBy": served}


class Router:
    def __init__(
        self,
        primary: Node,
        replicas: list[Node],
        *,
        consistency_wait: float,
        status: ClusterStatus | None = None,
    ) -> None:
        self.primary = primary
        self.replicas = replicas
        self.consistency_wait = consistency_wait
        self.status = status or ClusterStatus()
        self._turn = itertools.count()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        """Whether there are replicas: only then do responses say who served them."""
        return bool(self.replicas)

    def primary_route(self) -> Route:
        return Route(self.primary)

    async def route(self, token: uuid.UUID | None) -> Route:
        """Where a query reads: a replica that is up (and has replayed
        `token`'s event, waiting for it at most consistency_wait seconds), else
        the primary."""
        if not self.replicas:
            return Route(self.primary, token)
        started = time.monotonic()
        deadline = started + self.consistency_wait
        tried: set[str] = set()
        while (node := self._next_replica(tried)) is not None:
            if token is None:
                return Route(node)
            try:
                replayed = await self._replayed(node, token, deadline)
            except PoolTimeoutError:
                # Busy, not dead: the primary answers this one.
                return Route(self.primary, token, time.monotonic() - started, node.name)
            except Exception as exc:
                if not _unavailable(exc):
                    raise
                self._failed(node, exc)
                tried.add(node.name)
                continue
            waited = time.monotonic() - started
            if replayed:
                return Route(node, token, waited)
            return Route(self.primary, token, waited, fallback_from=node.name)
        return Route(self.primary, token, time.monotonic() - started)

    async def fetchval(self, route: Route, sql: str, *arguments: Any) -> Any:
        """One statement's value, on the route's node (the compiled path)."""
        if not route.node.replica:
            async with route.node.pool.connection() as conn:
                return await conn.fetchval(sql, *arguments)

        async def attempt(node: Node) -> Any:
            async with node.pool.connection() as conn:
                return await conn.fetchval(sql, *arguments)

        return await self._on(route, attempt)

    async def read(
        self, route: Route | None, query: Callable[[AsyncConnection], Awaitable[T]]
    ) -> T:
        """`query` on a connection of the route's node (strawberry's path);
        None: the primary."""

        async def attempt(node: Node) -> T:
            async with node.engine.connect() as conn:
                return await query(conn)

        return await self._on(route or self.primary_route(), attempt)

    async def _on(self, route: Route, attempt: Callable[[Node], Awaitable[T]]) -> T:
        # A replica that fails a read is skipped from then on, and the read
        # runs again elsewhere: a read changes nothing, so running it twice
        # is harmless. A read with a token goes to the primary, which has
        # its write for sure.
        while True:
            node = route.node
            try:
                return await attempt(node)
            except Exception as exc:
                if not node.replica:
                    raise
                if isinstance(exc, PoolTimeoutError) or _sqlstate(exc) == _RECOVERY_CONFLICT:
                    # Busy, or the standby's replay needed what the read saw.
                    route.node = self.primary
                elif _unavailable(exc):
                    self._failed(node, exc)
                    replacement = None if route.token is not None else self._next_replica()
                    route.node = replacement or self.primary
                else:
                    raise
                route.fallback_from = node.name

    def _next_replica(self, skip: Collection[str] = ()) -> Node | None:
        for _ in range(len(self.replicas)):
            node = self.replicas[next(self._turn) % len(self.replicas)]
            if node.up and node.name not in skip:
                return node
        return None

    async def _replayed(self, node: Node, token: uuid.UUID, deadline: float) -> bool:
        """Whether `node` sees the token's event, asking until `deadline`
        (at least once)."""
        pause = RECHECK_FIRST
        while True:
            async with node.pool.connection() as conn:
                if await conn.fetchval(_REPLAYED, token):
                    return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            await asyncio.sleep(min(pause, remaining))
            pause = min(pause * 2, RECHECK_MAX)

    # --- health

    async def start(self) -> None:
        if self.replicas:
            await self._check_all()
            self._task = asyncio.create_task(self._watch(), name="replica-health")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for node in self.replicas:
            if node.health_connection is not None:
                node.health_connection.terminate()
                node.health_connection = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            await self._check_all()

    async def _check_all(self) -> None:
        await asyncio.gather(*(self._check(node) for node in self.replicas))

    async def _check(self, node: Node) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                conn = node.health_connection
                if conn is None or conn.is_closed():
                    conn = node.health_connection = await node.pool.connect_one()
                row = await _health(conn)
        except Exception as exc:
            if node.health_connection is not None:
                node.health_connection.terminate()
                node.health_connection = None
            self._failed(node, exc)
            return
        if not row["standby"]:
            if node.up or not node.checked:
                logger.warning(
                    "%s is not a standby (was it promoted?): no reads go to it", node.name
                )
            node.up, node.lag_seconds = False, None
        else:
            if not node.up and node.checked:
                logger.info("%s answers again: reads go to it", node.name)
            node.up, node.lag_seconds = True, row["lag"]
        node.checked = True
        self._publish(node)

    def _failed(self, node: Node, exc: BaseException) -> None:
        if node.up or not node.checked:
            logger.warning(
                "%s does not answer (%s: %s): reads skip it until it does",
                node.name,
                type(exc).__name__,
                exc,
            )
        node.up, node.checked, node.lag_seconds = False, True, None
        self._publish(node)

    def _publish(self, node: Node) -> None:
        self.status._replica(ReplicaState(node.name, node.up, node.lag_seconds))


async def _health(conn: asyncpg.Connection) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(_HEALTH)
    assert row is not None
    return row


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (SQLAlchemy's DBAPIError keeps the
    driver's error as .orig, whose cause is asyncpg's)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return seen


def _unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the server cannot be reached or dropped the
    connection (rather than that the statement failed)."""
    for cause in _causes(exc):
        if getattr(cause, "connection_invalidated", False):
            return True
        if isinstance(
            cause, asyncpg.PostgresError | asyncpg.InterfaceError | OSError
        ) and connection_lost(cause):
            return True
    return False


def _sqlstate(exc: BaseException) -> str | None:
    for cause in _causes(exc):
        if isinstance(cause, asyncpg.PostgresError):
            return cause.sqlstate
    return None
