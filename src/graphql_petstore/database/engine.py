"""The connections to the database: SQLAlchemy's async engine (the strawberry
path's reads, the event stream) and the lean pool (appends, compiled requests).

Through a transaction-pooling proxy (`transaction_pooler`), neither keeps
prepared statements, and no session settings are sent at connect: PgBouncer
refuses startup parameters it does not know, and a setting made on one
server session would not follow the next transaction anyway. The proxy (or
the role) sets them instead, statement_timeout included; see pooler.py and
docs/scaling.md. (SET LOCAL per statement would cost a transaction and two
round trips more for each of our single-statement requests.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from graphql_petstore.database.location import sqlalchemy_url
from graphql_petstore.database.pool import ConnectionPool, pool_settings
from graphql_petstore.json_output import stored_json
from graphql_petstore.observability.pool import ObservedPool
from graphql_petstore.settings import DEFAULT_POOL_TIMEOUT

# Seconds a request waits for a free connection before it is refused as
# retryable (PETSTORE_POOL_TIMEOUT).
POOL_TIMEOUT = DEFAULT_POOL_TIMEOUT

SESSION_SETTINGS = {
    # Keep a transaction that a crashed client left open from holding back
    # the commit-safe event stream (design §4).
    "idle_in_transaction_session_timeout": "60000",
    # The triggers leave the NOTIFY to the doorbell, which sends one per
    # batch of appends (see sql/0006_event_triggers.sql).
    "petstore.notify": "batched",
}
# Not through a transaction pooler, where the backend's client is the pooler.
DIRECT_SESSION_SETTINGS = {
    # A backend whose client closed its socket (a request stopped mid-statement
    # on a connection that was then closed) notices within a second and stops
    # instead of running on for nobody.
    "client_connection_check_interval": "1000",
}


def session_settings(statement_timeout_ms: int | None) -> dict[str, str]:
    """The settings sent at connect; with each request's statement time limit
    (PETSTORE_STATEMENT_TIMEOUT: PostgreSQL cancels a statement past it)."""
    made = {**SESSION_SETTINGS, **DIRECT_SESSION_SETTINGS}
    if statement_timeout_ms is not None:
        made["statement_timeout"] = str(statement_timeout_ms)
    return made


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
    pool_timeout: float = POOL_TIMEOUT,
    statement_timeout_ms: int | None = None,
) -> AsyncEngine:
    connect_args: dict[str, Any] = {}
    if transaction_pooler:
        connect_args.update(
            statement_cache_size=0,
            prepared_statement_cache_size=0,
            prepared_statement_name_func=_unnamed,
        )
    else:
        connect_args["server_settings"] = session_settings(statement_timeout_ms)
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout
    return create_async_engine(
        sqlalchemy_url(url),
        poolclass=ObservedPool,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_timeout=pool_timeout,
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
    pool_timeout: float = POOL_TIMEOUT,
    statement_timeout_ms: int | None = None,
) -> ConnectionPool:
    return ConnectionPool(
        url,
        pool_size,
        timeout=pool_timeout,
        server_settings=(
            {} if transaction_pooler else pool_settings(session_settings(statement_timeout_ms))
        ),
        transaction_pooler=transaction_pooler,
        connect_timeout=connect_timeout,
    )
