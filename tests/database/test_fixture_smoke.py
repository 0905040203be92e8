from __future__ import annotations

import asyncpg


async def test_each_test_gets_an_empty_migrated_database(conn: asyncpg.Connection) -> None:
    assert await conn.fetchval("select count(*) from pets") == 0
    assert await conn.fetchval("select count(*) from schema_migrations") >= 7
