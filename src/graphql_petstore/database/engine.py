"""The async SQLAlchemy engine over asyncpg."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from graphql_petstore.database.location import sqlalchemy_url
from graphql_petstore.observability.pool import ObservedPool


def create_engine(url: str, pool_size: int) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        poolclass=ObservedPool,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        # Every statement of ours stands alone (an event is one INSERT; reads are
        # single SELECTs), so no BEGIN, COMMIT or reset-on-return ROLLBACK
        # round trips: asyncpg runs each statement in its own transaction.
        isolation_level="AUTOCOMMIT",
        # Keep a transaction that a crashed client left open from holding back
        # the commit-safe event stream (design §4).
        connect_args={
            "server_settings": {
                "idle_in_transaction_session_timeout": "60000",
                # The triggers leave the NOTIFY to the doorbell, which sends one
                # per batch of appends (see sql/0006_event_triggers.sql).
                "petstore.notify": "batched",
            }
        },
    )
