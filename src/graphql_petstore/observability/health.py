"""/readyz: can this process serve requests now? The check opens a connection
of its own (so a busy pool does not make a loaded server "not ready"),
checks that every migration is applied, and gives up after a timeout.
Concurrent probes share one check.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from graphql_petstore.database.location import libpq_url
from graphql_petstore.database.migrations import Migration, is_current

DEFAULT_READINESS_TIMEOUT = 2.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    body: dict[str, str] = field(default_factory=dict)

    @property
    def status_code(self) -> int:
        return 200 if self.ready else 503


async def check_readiness(
    database_url: str, migrations: list[Migration], within: float = DEFAULT_READINESS_TIMEOUT
) -> Readiness:
    """Ready when the database answers within `within` seconds and every
    migration is applied; else not ready, and `reason` says why."""
    try:
        async with asyncio.timeout(within):
            # No prepared statement kept: the check may go through a transaction pooler.
            conn = await asyncpg.connect(libpq_url(database_url), statement_cache_size=0)
            try:
                current = await is_current(conn, migrations)
            finally:
                await conn.close()
    except TimeoutError:
        return _unreachable(f"the database did not answer within {within:g} s")
    except Exception as exc:  # whatever stops the check stops the requests too
        return _unreachable(f"cannot reach the database: {type(exc).__name__}: {exc}")
    if not current:
        return Readiness(
            False,
            {
                "status": "unavailable",
                "migrations": "pending",
                "reason": "the database lacks migrations that this server needs "
                "(run graphql-petstore migrate)",
            },
        )
    return Readiness(True, {"status": "ready"})


def _unreachable(reason: str) -> Readiness:
    return Readiness(False, {"status": "unavailable", "database": "unreachable", "reason": reason})


class ReadinessProbe:
    """Concurrent probes wait for the check in flight instead of each opening
    a connection."""

    def __init__(
        self,
        database_url: str,
        migrations: list[Migration],
        within: float = DEFAULT_READINESS_TIMEOUT,
    ) -> None:
        self._database_url = database_url
        self._migrations = migrations
        self._within = within
        self._running: asyncio.Task[Readiness] | None = None

    async def check(self) -> Readiness:
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(
                check_readiness(self._database_url, self._migrations, self._within)
            )
        return await asyncio.shield(self._running)
