"""migrate makes or checks the roles before it migrates (database/roles.py):
it says exactly what to run when the connecting user may not, and it hands
the objects of a database migrated before sql/0015 to petstore_owner."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import pytest_asyncio

from graphql_petstore.database.api_login import api_database_url
from graphql_petstore.database.location import with_user
from graphql_petstore.database.migrations import Migration, load_migrations, migrate
from graphql_petstore.database.replay import verify
from graphql_petstore.database.roles import API_ROLE, OWNER_ROLE, RoleSetupError, connect_as_owner
from graphql_petstore.errors import ConfigurationError
from graphql_petstore.settings import Settings
from tests.database.rules import insert_event

COMMAND_TIMEOUT_SECONDS = 120
SCRIPT = Path(sys.executable).parent / "graphql-petstore"


@pytest_asyncio.fixture(loop_scope="session")
async def powerless_url(
    postgres_server_url: str, template_database: str, empty_database_url: str
) -> AsyncIterator[str]:
    """The empty database, as a login role that may do nothing else (no
    CREATEROLE, not the database's owner). The roles exist on the server (the
    template's migrate made them), as when other databases there use them."""
    name = f"petstore_test_migrator_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'create role "{name}" login')
        yield with_user(empty_database_url, name)
        await admin.execute(f'drop role "{name}"')
    finally:
        await admin.close()


def _instructions(message: str) -> list[str]:
    """The SQL statements of a RoleSetupError's message (indented, with ';')."""
    return [
        line.strip().removesuffix(";")
        for line in message.splitlines()
        if line.startswith("    ") and line.endswith(";")
    ]


async def test_migrate_without_createrole_says_exactly_what_to_run(
    powerless_url: str, empty_database_url: str
) -> None:
    user = urlsplit(powerless_url).username
    database = urlsplit(powerless_url).path.lstrip("/")
    with pytest.raises(RoleSetupError) as refused:
        await migrate(powerless_url)
    # The roles exist on this server already (other databases made them): what
    # is missing is this user's right to act as the owner, and this database's
    # share of the privileges.
    assert refused.value.statements == [
        f'grant {OWNER_ROLE} to "{user}"',
        f"grant usage, create on schema public to {OWNER_ROLE}",
        f'revoke temporary on database "{database}" from public, {API_ROLE}',
    ]
    assert _instructions(str(refused.value)) == refused.value.statements
    assert f"connected to database {database}" in str(refused.value)
    superuser = await asyncpg.connect(empty_database_url)
    try:
        assert await superuser.fetchval("select to_regclass('pets')") is None
        for statement in refused.value.statements:
            await superuser.execute(statement)
    finally:
        await superuser.close()
    applied = await migrate(powerless_url)
    assert applied == [migration.name for migration in load_migrations()]


def test_migrate_command_prints_the_statements_and_exits_2(powerless_url: str) -> None:
    result = subprocess.run(
        [str(SCRIPT), "migrate"],
        env={**os.environ, "DATABASE_URL": powerless_url},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("graphql-petstore: ")
    assert f"    grant {OWNER_ROLE} to " in result.stderr
    assert "then run graphql-petstore migrate again" in result.stderr
    assert "Traceback" not in result.stderr


async def migrate_as_before_0015(url: str, migrations: list[Migration]) -> None:
    """What migrate did before sql/0015: everything as the connecting user."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "create table schema_migrations (name text primary key, checksum text not null,"
            " applied_at timestamptz not null default now())"
        )
        for migration in migrations:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "insert into schema_migrations (name, checksum) values ($1, $2)",
                    migration.name,
                    migration.checksum,
                )
    finally:
        await conn.close()


async def test_a_database_migrated_before_0015_is_handed_to_the_owner(
    empty_database_url: str,
) -> None:
    earlier = [m for m in load_migrations() if m.name < "0015"]
    await migrate_as_before_0015(empty_database_url, earlier)
    conn = await asyncpg.connect(empty_database_url)
    try:
        pet_id = uuid.uuid4()
        await insert_event(
            conn, "pet_arrived_events", pet_id=pet_id, name="Old", species="Cat", price=1
        )
        old_owner = await conn.fetchval(
            "select pg_get_userbyid(relowner) from pg_class where relname = 'pets'"
        )
        assert old_owner != OWNER_ROLE

        applied = await migrate(empty_database_url)
        assert "0015_least_privilege.sql" in applied
        owners = await conn.fetch(
            """
            select c.relname as name, pg_get_userbyid(c.relowner) as owner from pg_class c
            where c.relnamespace = 'public'::regnamespace
            union all
            select p.proname, pg_get_userbyid(p.proowner) from pg_proc p
            where p.pronamespace = 'public'::regnamespace
            """
        )
        assert {row["owner"] for row in owners} == {OWNER_ROLE}, [tuple(r) for r in owners]
    finally:
        await conn.close()

    # The API appends to the old history; the owner verifies it.
    api = await asyncpg.connect(await api_database_url(Settings(), empty_database_url))
    try:
        await insert_event(api, "pet_price_change_events", pet_id=pet_id, new_price=2)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await api.execute("delete from pets")
    finally:
        await api.close()
    assert await verify(empty_database_url, progress=False) == []


async def test_serve_refuses_an_api_login_that_could_bypass_the_rules(database_url: str) -> None:
    with pytest.raises(ConfigurationError, match="can bypass the store's rules"):
        await api_database_url(Settings(api_database_url=database_url), database_url)


async def test_verify_and_rebuild_act_as_the_owner(database_url: str) -> None:
    conn = await connect_as_owner(database_url)
    try:
        assert await conn.fetchval("select current_user") == OWNER_ROLE
    finally:
        await conn.close()


def test_psql_command_acts_as_the_owner(database_url: str) -> None:
    result = subprocess.run(
        [str(SCRIPT), "psql", "-X", "-A", "-t", "-c", "select current_user"],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{OWNER_ROLE}\n"
