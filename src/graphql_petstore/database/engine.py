"""The async SQLAlchemy engine over asyncpg."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from graphql_petstore.database.location import sqlalchemy_url


def create_engine(url: str, pool_size: int) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        # Keep a transaction that a crashed client left open from holding back
        # the commit-safe event stream (design §4).
        connect_args={"server_settings": {"idle_in_transaction_session_timeout": "60000"}},
    )
