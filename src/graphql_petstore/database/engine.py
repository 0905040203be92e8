"""The connections to the database: SQLAlchemy's async engine (the strawberry
path's reads, the event stream) and the lean pool (appends, compiled requests).

Through a transaction-pooling proxy (`transaction_pooler`), neither keeps
prepared statements, and no session settings are sent at connect: PgBouncer
refuses startup parameters it does not know, and a setting made on one
server session would not follow the next transaction anyway. The proxy (or
the role) sets them instead; see pooler.py and docs/scaling.md.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from graphql_petstore.database.location import sqlalchemy_url
from graphql_petstore.database.pool import ConnectionPool, pool_settings
from graphql_petstore.json_output import stored_json
from graphql_petstore.observability.pool import ObservedPool

# Seconds a request waits for a free connection before it is refused as
# retryable.
POOL_TIMEOUT = 5.0

SESSION_SETTINGS = {
    # Keep a transaction that a crashed client left open from holding back
    # the commit-safe event stream (design §4).
    "idle_in_transaction_session_timeout": "60000",
    # The triggers leave the NOTIFY to the doorbell, which sends one per
    # batch of appends (see sql/0006_event_triggers.sql).
    "petstore.notify": "batched",
}


def _unnamed() -> str:
    # asyncpg prepares an unnamed statement when given the empty name, and
    # (with its statement cache off) sends its Parse again with the Bind and
    # Execute, which a transaction pooler runs on one server session.
    return ""


def create_engine(
    url: str,
    pool_size: int,
    *,
    transaction_pooler: bool = False,
    connect_timeout: float | None = None,
) -> AsyncEngine:
    connect_args: dict[str, Any] = {}
    if transaction_pooler:
        connect_args.update(
            statement_cache_size=0,
            prepared_statement_cache_size=0,
            prepared_statement_name_func=_unnamed,
        )
    else:
        connect_args["server_settings"] = SESSION_SETTINGS
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout
    return create_async_engine(
        sqlalchemy_url(url),
        poolclass=ObservedPool,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_timeout=POOL_TIMEOUT,
        # Every statement of ours stands alone (an event is one INSERT; reads are
        # single SELECTs), so no BEGIN, COMMIT or reset-on-return ROLLBACK
        # round trips: asyncpg runs each statement in its own transaction.
        isolation_level="AUTOCOMMIT",
        # Stored JSON keeps its text, so that responses show it as stored.
        json_deserializer=stored_json,
        connect_args=connect_args,
    )


def create_pool(
    url: str,
    pool_size: int,
    *,
    transaction_pooler: bool = False,
    connect_timeout: float | None = None,
) -> ConnectionPool:
    return ConnectionPool(
        url,
        pool_size,
        timeout=POOL_TIMEOUT,
        server_settings={} if transaction_pooler else pool_settings(SESSION_SETTINGS),
        transaction_pooler=transaction_pooler,
        connect_timeout=connect_timeout,
    )
