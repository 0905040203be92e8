"""The stream's horizon, watched: who holds the event stream back.

The stream is read below pg_snapshot_xmin(pg_current_snapshot()), the
oldest transaction still running (design §4). That horizon belongs to the
whole PostgreSQL server, not to this database: a transaction left open in
any database of the server, by any application, holds back every subscriber
and events(after:) page of this one until it ends. Events are never lost or
reordered by it, only delayed.

This is bounded and made visible rather than removed: a horizon of this
database alone would need the running transactions of this database only,
and PostgreSQL lets an unprivileged role see other sessions' transaction ids
only through pg_locks, whose every read takes all the lock manager's
partition locks — on the path of every stream read, a cost paid by every
writer. Instead, once a second (or less) this watch asks whether events
that committed are waiting behind the horizon; while they are, it names the
transaction that holds it (from pg_locks and pg_stat_activity, read only
then), keeps that in ClusterStatus for the metrics, and after
`warning_after` seconds logs a warning naming its backend and database. Our
own sessions end idle transactions after a minute
(idle_in_transaction_session_timeout); other databases' sessions are their
owners' to bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg

from graphql_petstore.database.cluster_status import ClusterStatus, HorizonBlocker
from graphql_petstore.database.pool import ConnectionPool

logger = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0

# Committed events above the horizon: visible to this snapshot, yet at or
# above its xmin, so the stream does not deliver them yet.
_HELD = """
select h.xmin::text as xmin,
       exists (select from events e where e.tx_id >= h.xmin) as held
from (select pg_snapshot_xmin(pg_current_snapshot()) as xmin) h
"""
# Whose transaction the horizon is. Every transaction holds the lock on its
# own id; a prepared one has no backend, only a database.
_BLOCKER = """
select l.pid, coalesce(a.datname, p.database) as database,
       a.application_name as application, a.state
from pg_locks l
left join pg_stat_activity a on a.pid = l.pid
left join pg_prepared_xacts p on p.transaction = l.transactionid
where l.locktype = 'transactionid' and l.mode = 'ExclusiveLock' and l.granted
  and l.transactionid = xid($1::text::xid8)
limit 1
"""


class HorizonWatch:
    """Watches on a connection of its own (made like `pool`'s), so that it
    never takes one from requests."""

    def __init__(self, pool: ConnectionPool, status: ClusterStatus, warning_after: float) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None
        self._status = status
        self.warning_after = warning_after
        self.interval = min(CHECK_INTERVAL, warning_after / 2)
        self._held_since: float | None = None
        self._blocker: HorizonBlocker | None = None
        self._warned: int | None = None  # the xid last warned about
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="horizon-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._forget_connection()

    def _forget_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def _watch(self) -> None:
        while True:
            try:
                await self.check()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.debug("horizon watch: %s", exc)
                self._forget_connection()
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._pool.connect_one()
        conn = self._conn
        row = await conn.fetchrow(_HELD)
        assert row is not None
        if not row["held"]:
            self._held_since, self._blocker = None, None
            self._status._horizon(None, None)
            return
        xid = int(row["xmin"])
        if self._blocker is None or self._blocker.xid != xid:
            # Another transaction holds it now: the delay starts again.
            found = await conn.fetchrow(_BLOCKER, str(xid))
            self._held_since = time.monotonic()
            self._blocker = HorizonBlocker(
                xid=xid,
                pid=None if found is None else found["pid"],
                database=None if found is None else found["database"],
                application=None if found is None else found["application"],
                state=None if found is None else found["state"],
            )
        self._status._horizon(self._held_since, self._blocker)
        assert self._held_since is not None
        held = time.monotonic() - self._held_since
        if held >= self.warning_after and self._warned != xid:
            self._warned = xid
            blocker = self._blocker
            logger.warning(
                "the event stream has been held back for %.0f s by transaction %s of backend "
                "%s in database %s (application %s, %s): events committed after it began reach "
                "subscribers and events(after:) only when it ends. End it, or bound such "
                "transactions there (idle_in_transaction_session_timeout)",
                held,
                xid,
                blocker.pid if blocker.pid is not None else "(a prepared transaction)",
                _quoted(blocker.database),
                _quoted(blocker.application),
                blocker.state or "state not visible to this role",
            )


def _quoted(name: str | None) -> str:
    return "(unknown)" if name is None else repr(name)
