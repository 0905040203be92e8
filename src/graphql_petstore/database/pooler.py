"""Transaction-pooling proxies (PgBouncer's pool_mode = transaction) between
the server and PostgreSQL.

Through one, each transaction of a client connection may run in another
server session. The server copes when told (PETSTORE_DATABASE_POOLER=
transaction: no prepared statements kept, no session settings sent at
connect, subscriptions polled instead of woken by LISTEN); `serve` refuses to
start when it finds a transaction pooler it was not told about, since the
statement caches would then fail (the 'prepared statement
"__asyncpg_stmt_N__" does not exist' errors) and LISTEN would hear nothing.
"""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import urlsplit

import asyncpg

from graphql_petstore.database.engine import SESSION_SETTINGS
from graphql_petstore.database.location import libpq_url
from graphql_petstore.database.pool import pool_settings
from graphql_petstore.errors import ConfigurationError
from graphql_petstore.settings import Settings

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 5.0
# A statement that waits this long for a connection of its own is waiting
# for a server session that another client's transaction holds.
PINNED_WAIT = 2.0


async def transaction_pooler_evidence(url: str) -> str | None:
    """How `url` shows itself to be a transaction pooler, or None.

    A session of its own runs every statement of a client connection on one
    backend. Here connection A reads its backend's pid; connection B then
    opens a transaction, which pins a server session (the idle one that A
    just used, as PgBouncer hands out the most recently used first); A reads
    its pid again. Through a pooler A's second statement runs on another
    backend, or waits for B's. Direct sessions never do either, so the
    answer is never a false alarm (a pooler that hands B another session
    may go unnoticed)."""
    a = await asyncpg.connect(libpq_url(url), statement_cache_size=0, timeout=PROBE_TIMEOUT)
    try:
        b = await asyncpg.connect(libpq_url(url), statement_cache_size=0, timeout=PROBE_TIMEOUT)
        try:
            first = await a.fetchval("select pg_backend_pid()")
            async with b.transaction():
                await b.fetchval("select pg_backend_pid()")
                try:
                    second = await a.fetchval("select pg_backend_pid()", timeout=PINNED_WAIT)
                except TimeoutError:
                    return (
                        "a statement of one connection waited for a transaction of another "
                        "connection to end"
                    )
        finally:
            with contextlib.suppress(Exception):
                await b.close(timeout=PROBE_TIMEOUT)
    finally:
        a.terminate()
    if first != second:
        return f"two consecutive statements of one connection ran on backends {first} and {second}"
    return None


async def refuse_undeclared_pooler(url: str, setting: str) -> None:
    """Raises ConfigurationError when `url` reaches PostgreSQL through a
    transaction pooler although PETSTORE_DATABASE_POOLER says none."""
    evidence = await transaction_pooler_evidence(url)
    if evidence is not None:
        raise ConfigurationError(
            f"{setting} reaches PostgreSQL through a transaction-pooling proxy ({evidence}). "
            "Prepared statements and LISTEN do not survive it: set "
            "PETSTORE_DATABASE_POOLER=transaction (subscriptions then poll), or give the "
            "server a URL with sessions of its own"
        )


async def missing_session_settings(url: str) -> list[str]:
    """The session settings that the server would set at connect and that
    sessions reached through `url` (a transaction pooler) lack, as the SQL
    that gives them to every such session."""
    # A statement time limit of any length (the server's own is
    # PETSTORE_STATEMENT_TIMEOUT), so that no statement runs unbounded.
    wanted = {**pool_settings(SESSION_SETTINGS), "statement_timeout": "10s"}
    conn = await asyncpg.connect(libpq_url(url), statement_cache_size=0, timeout=PROBE_TIMEOUT)
    try:
        who = await conn.fetchrow("select current_user as u, current_database() as d")
        assert who is not None
        user, database = who["u"], who["d"]
        missing = []
        for name, value in wanted.items():
            actual = await conn.fetchval("select current_setting($1, true)", name)
            if actual is None or not _same(name, actual, value):
                missing.append(name)
    finally:
        await conn.close()
    return [
        f'alter role "{user}" in database "{database}" set {name} = {_literal(wanted[name])}'
        for name in missing
    ]


def _same(name: str, actual: str, wanted: str) -> bool:
    if name in ("idle_in_transaction_session_timeout", "statement_timeout"):
        # Shown with a unit ("1min"); anything shorter than the server's own
        # setting serves as well.
        return actual not in ("0", "")
    return actual == wanted


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def check_transaction_pooler(url: str) -> None:
    """Logs what the sessions behind a transaction pooler lack (the server
    cannot set it at connect), with the SQL or PgBouncer setting that gives it."""
    try:
        missing = await missing_session_settings(url)
    except (OSError, asyncpg.PostgresError) as exc:
        logger.warning("could not check the pooled sessions' settings: %s", exc)
        return
    if missing:
        host = urlsplit(libpq_url(url)).hostname or "the pooler"
        logger.warning(
            "the sessions behind %s lack settings the server would make itself without a "
            "transaction pooler; without petstore.notify = batched every append sends a NOTIFY "
            "of its own. Give them to the role (%s), or to PgBouncer's database entry "
            "(connect_query='SET petstore.notify TO batched; SET jit TO off; "
            "SET statement_timeout TO 10000')",
            host,
            "; ".join(missing),
        )


async def check_pooler(settings: Settings, url: str, setting: str) -> None:
    """Before serving on `url` (named by `setting`): through a declared
    transaction pooler, warn of the session settings it lacks; else refuse a
    transaction pooler that nobody declared."""
    if settings.database_pooler == "transaction":
        await check_transaction_pooler(url)
    else:
        await refuse_undeclared_pooler(url, setting)
