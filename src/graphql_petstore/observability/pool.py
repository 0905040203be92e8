"""The connection pool, counting the callers that wait for a connection: the
one figure of the pool's state that SQLAlchemy does not keep (its size and
checked-out count it does)."""

from __future__ import annotations

from sqlalchemy.pool import AsyncAdaptedQueuePool, PoolProxiedConnection


class ObservedPool(AsyncAdaptedQueuePool):
    """AsyncAdaptedQueuePool (create_async_engine's default) that counts, in
    `waiting`, the callers inside connect(): waiting for a free connection or
    for a new one to open. The engine takes every connection through
    connect(), its public entry point."""

    waiting = 0

    def connect(self) -> PoolProxiedConnection:
        self.waiting += 1
        try:
            return super().connect()
        finally:
            self.waiting -= 1
