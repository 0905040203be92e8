"""Applies the files of sql/ in order, each once.

Each applied file is recorded with its SHA-256 in schema_migrations. A file
that was applied and has changed since is refused: a migration that ran must
never be edited, only followed by another one. All of it happens under a
session advisory lock, so processes that start at the same moment (several
servers, a server and a `migrate`) apply each file exactly once.

The connecting user first makes the database roles right (roles.prepare),
then applies the files as petstore_owner, who thus owns everything they
make, and finally gives petstore_api its login (api_login.claim).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from graphql_petstore.database import api_login, roles
from graphql_petstore.database.location import libpq_url
from graphql_petstore.errors import MigrationError

logger = logging.getLogger(__name__)

# An arbitrary constant shared by every process that migrates this schema.
MIGRATION_LOCK_KEY = 0x5E7_5705E

_CREATE_LEDGER = """
create table if not exists schema_migrations (
    name text primary key,
    checksum text not null,
    applied_at timestamptz not null default now()
)
"""


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def sql_directory() -> Path:
    """sql/ inside the installed package, or at the root of a source checkout."""
    packaged = Path(str(importlib.resources.files("graphql_petstore"))) / "sql"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "sql"
    if checkout.is_dir():
        return checkout
    raise MigrationError(f"no sql/ directory in {packaged.parent} or {checkout.parent}")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_directory()
    return [
        Migration(path.name, path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.sql"))
    ]


async def pending_migrations(
    conn: asyncpg.Connection, migrations: list[Migration]
) -> list[Migration]:
    """The migrations still to apply; raises if an applied one has changed."""
    has_ledger = await conn.fetchval("select to_regclass('schema_migrations') is not null")
    applied: dict[str, str] = {}
    if has_ledger:
        rows = await conn.fetch("select name, checksum from schema_migrations")
        applied = {row["name"]: row["checksum"] for row in rows}
    for migration in migrations:
        recorded = applied.get(migration.name)
        if recorded is not None and recorded != migration.checksum:
            raise MigrationError(
                f"{migration.name} was applied with checksum {recorded[:12]}… but the file "
                f"now has {migration.checksum[:12]}…; applied migrations must not change: "
                f"restore the file and add a new migration instead"
            )
    return [m for m in migrations if m.name not in applied]


async def migrate(url: str, migrations: list[Migration] | None = None) -> list[str]:
    """Applies what is pending; returns the names applied (empty: up to date)."""
    migrations = load_migrations() if migrations is None else migrations
    conn = await asyncpg.connect(libpq_url(url))
    try:
        await conn.execute("select pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            await roles.prepare(conn)
            await roles.act_as_owner(conn)
            await conn.execute(_CREATE_LEDGER)
            applied = []
            for migration in await pending_migrations(conn, migrations):
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "insert into schema_migrations (name, checksum) values ($1, $2)",
                        migration.name,
                        migration.checksum,
                    )
                logger.info("applied migration %s", migration.name)
                applied.append(migration.name)
            await conn.execute("reset role")
            await api_login.claim(conn)
            return applied
        finally:
            await conn.execute("select pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()


async def is_current(conn: asyncpg.Connection, migrations: list[Migration]) -> bool:
    """True when every migration is applied, unchanged (for /readyz)."""
    try:
        return not await pending_migrations(conn, migrations)
    except MigrationError:
        return False
