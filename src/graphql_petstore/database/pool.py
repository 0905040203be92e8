"""A lean pool of asyncpg connections for the compiled request path.

A compiled request is one statement: checking a connection out and back in
must cost next to nothing beside it. SQLAlchemy's pool spends about 90 µs of
CPU per checkout here and asyncpg's own pool resets every connection with a
round trip when it comes back, several times what this pool spends
(bench/README.md). Our statements leave no session state behind (each runs on
its own, in autocommit), so this pool hands connections back as they are.

Through a transaction-pooling proxy (PgBouncer's pool_mode = transaction)
consecutive statements of one connection may run in different server
sessions, so a statement prepared in one is missing in the next: such a pool
keeps no prepared statements (statement_cache_size 0: asyncpg then sends
each statement's Parse with its Bind and Execute, in one message sequence
that the proxy runs on one server session) and does not know which backend
runs its statements.

A connection that saw an error it cannot vouch for (a broken socket) is
closed instead of returned; the next checkout opens a new one. One whose
statement was cancelled (the request's time limit, its client gone) comes
back once PostgreSQL has confirmed the cancel that asyncpg asked for: closed
at once, its backend would run the statement on for nobody.

Waiting for a free connection is bounded: past `timeout` the caller gets
PoolTimeoutError, which the API reports as retryable (DATABASE_BUSY).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping
from typing import Any

import asyncpg

from graphql_petstore.database.location import libpq_url


class PoolTimeoutError(Exception):
    """No connection became free within the pool's timeout."""


class PetstoreConnection(asyncpg.Connection):
    """A connection that knows its backend: (pid, backend_start), which tell
    it apart from any later backend that reuses the pid; None through a
    transaction pooler, where each transaction may run on another one."""

    __slots__ = ("backend",)
    backend: tuple[int, Any] | None


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` means the connection is gone (rather than one statement
    failed on a connection that is still good)."""
    if isinstance(exc, asyncpg.PostgresError):
        # Class 08 (connection exception) and the shutdown family of 57P.
        sqlstate = exc.sqlstate or ""
        return sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03")
    return isinstance(exc, asyncpg.InterfaceError | OSError)


# Statements worth keeping prepared per connection: every compiled document
# variant is one. Kept until the connection goes (the default expires them
# after five minutes and prepares them again).
STATEMENT_CACHE_SIZE = 1_024
# Seconds a cancelled statement's connection may take to come back.
RECOVER_TIMEOUT = 5.0
_TIMER_SLACK = 0.001


class ConnectionPool:
    def __init__(
        self,
        url: str,
        size: int,
        *,
        timeout: float,
        server_settings: Mapping[str, str],
        transaction_pooler: bool = False,
        connect_timeout: float | None = None,
    ) -> None:
        self._url = libpq_url(url)
        self.size = size
        self.timeout = timeout
        self._server_settings = dict(server_settings)
        self.transaction_pooler = transaction_pooler
        # A request waits no longer for a new connection than for a free one
        # (asyncpg's own default is 60 s).
        self._connect_timeout = timeout if connect_timeout is None else connect_timeout
        self._idle: deque[PetstoreConnection] = deque()
        # (deadline, waiter), in the order they came.
        self._waiters: deque[tuple[float, asyncio.Future[PetstoreConnection | None]]] = deque()
        self._expiry: asyncio.TimerHandle | None = None
        self._open = 0  # connections made (or being made) and not yet closed
        self._closed = False
        self._recovering: set[asyncio.Task[None]] = set()

    @property
    def in_use(self) -> int:
        return self._open - len(self._idle)

    @property
    def waiting(self) -> int:
        return sum(1 for _, waiter in self._waiters if not waiter.done())

    def connection(self) -> _Checkout:
        """`async with pool.connection() as conn:` a connection of the pool's,
        back in the pool (or closed, or recovered) when the block ends."""
        return _Checkout(self)

    def _after_failure(self, conn: PetstoreConnection, exc: BaseException) -> None:
        if isinstance(exc, asyncpg.PostgresError):
            # A statement that failed leaves its connection as good as before
            # (each runs in its own transaction); a lost one is closed.
            if connection_lost(exc):
                self._discard(conn)
            else:
                self._release(conn)
        elif isinstance(exc, asyncio.CancelledError):
            # Cancelled mid-statement: asyncpg has sent PostgreSQL a cancel
            # request; nobody else gets the connection before it took effect.
            self._recover_later(conn)
        else:
            # The socket broke: the statement may still be running, so nobody
            # else gets this connection.
            self._discard(conn)

    def _recover_later(self, conn: PetstoreConnection) -> None:
        task = asyncio.get_running_loop().create_task(self._recover(conn))
        self._recovering.add(task)
        task.add_done_callback(self._recovering.discard)

    async def _recover(self, conn: PetstoreConnection) -> None:
        try:
            # asyncpg runs this once the cancelled statement has ended.
            async with asyncio.timeout(RECOVER_TIMEOUT):
                await conn.fetchval("select 1")
        except BaseException:
            self._discard(conn)
            return
        self._release(conn)

    async def _acquire(self) -> PetstoreConnection:
        if self._closed:
            raise RuntimeError("the pool is closed")
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
            self._open -= 1
        if self._open < self.size:
            self._open += 1  # the slot is ours while we connect
            return await self._connect()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[PetstoreConnection | None] = loop.create_future()
        # Every waiter waits `timeout`: the queue is in the order of their
        # deadlines, and one timer, for the first, serves them all (an
        # asyncio.timeout per waiter was some 4 % of py-spy's samples of a
        # server appending at 32 connections).
        deadline = loop.time() + self.timeout
        self._waiters.append((deadline, waiter))
        if self._expiry is None:
            self._expiry = loop.call_at(deadline, self._expire)
        try:
            handed = await waiter
        except PoolTimeoutError:
            raise PoolTimeoutError(
                f"no database connection became free within {self.timeout:g} s "
                f"(all {self.size} in use)"
            ) from None
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed over just as we were cancelled: pass it on.
                late = waiter.result()
                if late is None:
                    self._open -= 1
                    self._offer_slot()
                else:
                    self._release(late)
            raise
        # None: a slot that a discarded connection freed, reserved for us.
        return handed if handed is not None else await self._connect()

    def _expire(self) -> None:
        """Fails the waiters whose time is up, and sets the timer for the next."""
        self._expiry = None
        loop = asyncio.get_running_loop()
        # uvloop's clock and timers count whole milliseconds: a timer may run
        # a little before its deadline by loop.time(), and must not wait again.
        now = loop.time() + _TIMER_SLACK
        waiters = self._waiters
        while waiters and waiters[0][0] <= now:
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_exception(PoolTimeoutError())
        if waiters:
            self._expiry = loop.call_at(waiters[0][0], self._expire)

    async def connect_one(self) -> PetstoreConnection:
        """A connection like the pool's, outside it: the caller closes it."""
        options: dict[str, Any] = {}
        if self._connect_timeout is not None:
            options["timeout"] = self._connect_timeout
        conn: PetstoreConnection = await asyncpg.connect(
            self._url,
            statement_cache_size=0 if self.transaction_pooler else STATEMENT_CACHE_SIZE,
            max_cached_statement_lifetime=0,
            server_settings=self._server_settings,
            connection_class=PetstoreConnection,
            **options,
        )
        return conn

    async def _connect(self) -> PetstoreConnection:
        """Opens a connection in a slot already counted in _open."""
        try:
            conn = await self.connect_one()
            if self.transaction_pooler:
                conn.backend = None
                return conn
            try:
                row = await conn.fetchrow(
                    "select pid, backend_start from pg_stat_activity where pid = pg_backend_pid()"
                )
            except BaseException:
                conn.terminate()
                raise
            assert row is not None, "a session sees its own backend"
            conn.backend = (row["pid"], row["backend_start"])
        except BaseException:
            self._open -= 1
            self._offer_slot()
            raise
        return conn

    def _release(self, conn: PetstoreConnection) -> None:
        if conn.is_closed() or self._closed:
            self._discard(conn)
            return
        waiter = self._next_waiter()
        if waiter is None:
            self._idle.append(conn)
        else:
            waiter.set_result(conn)

    def _discard(self, conn: PetstoreConnection) -> None:
        conn.terminate()
        self._open -= 1
        self._offer_slot()

    def _offer_slot(self) -> None:
        waiter = self._next_waiter()
        if waiter is not None:
            self._open += 1
            waiter.set_result(None)

    def _next_waiter(self) -> asyncio.Future[PetstoreConnection | None] | None:
        while self._waiters:
            _, waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    async def close(self) -> None:
        self._closed = True
        for task in list(self._recovering):
            task.cancel()
        while self._idle:
            conn = self._idle.pop()
            self._open -= 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None


def pool_settings(base: Mapping[str, str]) -> dict[str, Any]:
    """The server settings of the request pool's sessions."""
    return {
        **base,
        # Compiled statements are large and their estimated costs high, but
        # each touches a handful of rows through indexes: JIT compilation
        # would cost more than it could save.
        "jit": "off",
    }


class _Checkout:
    """A checkout as a plain class: contextlib's generator-based context
    managers cost a request path that is one statement long more than the
    rest of the checkout does."""

    __slots__ = ("conn", "pool")

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool

    async def __aenter__(self) -> PetstoreConnection:
        self.conn = await self.pool._acquire()
        return self.conn

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None:
            self.pool._release(self.conn)
        else:
            self.pool._after_failure(self.conn, exc)
