"""migrate(): each file of sql/ applied once, in order, recorded with its
SHA-256; changed history refused; safe when several processes start at once."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from pathlib import Path

import asyncpg
import pytest

from graphql_petstore.database.migrations import Migration, load_migrations, migrate
from graphql_petstore.errors import MigrationError

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


def repository_sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("*.sql"))


async def ledger(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("select name, checksum from schema_migrations")
    finally:
        await conn.close()
    return {row["name"]: row["checksum"] for row in rows}


async def test_migrations_are_loaded_from_the_repositorys_sql_directory() -> None:
    assert [m.name for m in load_migrations()] == [p.name for p in repository_sql_files()]
    assert [m.sql for m in load_migrations()] == [p.read_text() for p in repository_sql_files()]


async def test_migrating_an_empty_database_applies_every_file_in_order(
    empty_database_url: str,
) -> None:
    applied = await migrate(empty_database_url)
    assert applied == [path.name for path in repository_sql_files()]
    assert applied == sorted(applied)


async def test_migrating_a_migrated_database_applies_nothing(database_url: str) -> None:
    before = await ledger(database_url)
    assert await migrate(database_url) == []
    assert await ledger(database_url) == before


async def test_every_sql_file_is_recorded_with_its_sha256(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch("select name, checksum from schema_migrations order by name")
    assert [(row["name"], row["checksum"]) for row in rows] == [
        (path.name, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in repository_sql_files()
    ]


async def test_two_concurrent_migrations_apply_each_file_exactly_once(
    empty_database_url: str,
) -> None:
    names = [path.name for path in repository_sql_files()]
    first, second = await asyncio.gather(migrate(empty_database_url), migrate(empty_database_url))
    assert sorted([first, second], key=len) == [[], names]

    conn = await asyncpg.connect(empty_database_url)
    try:
        counts = await conn.fetch(
            "select name, count(*) as times from schema_migrations group by name order by name"
        )
        assert [(row["name"], row["times"]) for row in counts] == [(name, 1) for name in names]
        assert await conn.fetchval("select count(*) from pets") == 0
    finally:
        await conn.close()


async def test_changed_applied_migration_is_refused_naming_the_file(
    database_url: str, conn: asyncpg.Connection
) -> None:
    migrations = load_migrations()
    edited = dataclasses.replace(migrations[2], sql=migrations[2].sql + "\n-- edited\n")
    newer = Migration("9000_after_the_edit.sql", "create table after_the_edit (id int);")
    before = await ledger(database_url)

    with pytest.raises(MigrationError, match=r"^0003_pets\.sql was applied with checksum") as e:
        await migrate(database_url, [*migrations[:2], edited, *migrations[3:], newer])

    assert before["0003_pets.sql"][:12] in str(e.value)
    assert edited.checksum[:12] in str(e.value)
    assert await ledger(database_url) == before
    assert await conn.fetchval("select to_regclass('after_the_edit')") is None


async def test_new_migration_after_the_applied_ones_is_applied_and_recorded(
    database_url: str, conn: asyncpg.Connection
) -> None:
    newer = Migration("9000_extra.sql", "create table extra (id int);")
    assert await migrate(database_url, [*load_migrations(), newer]) == ["9000_extra.sql"]
    assert await conn.fetchval("select to_regclass('extra')::text") == "extra"
    recorded = await ledger(database_url)
    assert recorded["9000_extra.sql"] == hashlib.sha256(newer.sql.encode()).hexdigest()
    assert await migrate(database_url, [*load_migrations(), newer]) == []


async def test_failing_migration_applies_nothing_of_itself(
    database_url: str, conn: asyncpg.Connection
) -> None:
    broken = Migration("9000_broken.sql", "create table half_done (id int); select 1/0;")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(database_url, [*load_migrations(), broken])
    assert "9000_broken.sql" not in await ledger(database_url)
    assert await conn.fetchval("select to_regclass('half_done')") is None
