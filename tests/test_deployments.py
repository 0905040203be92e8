"""How `serve` logs in as petstore_api in each way it is deployed (README:
Database roles): the embedded default, compose's init script on a server that
asks for passwords, and a server whose administrator makes the roles. Each
on a PostgreSQL server of its own, made for the test, because the roles are
the whole server's."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from graphql_petstore.database.api_login import api_database_url
from graphql_petstore.database.embedded import EmbeddedPostgres, psql_executable
from graphql_petstore.database.location import with_database, with_user
from graphql_petstore.database.migrations import load_migrations, migrate
from graphql_petstore.database.roles import API_ROLE, OWNER_ROLE, RoleSetupError
from graphql_petstore.errors import ConfigurationError
from graphql_petstore.settings import Settings
from tests.database.test_role_setup import migrate_as_before_0015
from tests.subscriptions.support import Server, connect, start_server

pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parents[1]
INIT_SCRIPT = ROOT / "compose" / "initdb" / "10-petstore-owner.sh"
COMMAND_TIMEOUT_SECONDS = 60
# Short: the server's unix socket lives under it (at most about 100 bytes).
_PARENT = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else "/tmp"


def _socket_directory(data_dir: Path) -> str:
    # postmaster.pid: pid, data directory, start time, port, socket directory, …
    return (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[4]


@pytest.fixture
def password_server() -> Iterator[str]:
    """A new PostgreSQL server on which every role but postgres must give a
    password (SCRAM), as on a real server; yields postgres's URL."""
    data_dir = Path(tempfile.mkdtemp(prefix="ps-pw-", dir=_PARENT))
    server = EmbeddedPostgres(data_dir)
    try:
        url = server.start()
        hba = data_dir / "postgres" / "pg_hba.conf"
        hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n")
        subprocess.run(
            [psql_executable(), url, "-X", "-q", "-c", "select pg_reload_conf()"],
            check=True,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
        )
        yield url
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def superuser(password_server: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(password_server)
    try:
        yield conn
    finally:
        await conn.close()


async def _session_users(superuser: asyncpg.Connection, database: str) -> set[str]:
    """Who the other sessions on `database` are logged in as."""
    rows = await superuser.fetch(
        "select usename from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()"
        " and backend_type = 'client backend'",
        database,
    )
    return {row["usename"] for row in rows}


async def _serve_a_write_and_a_subscription(server: Server) -> None:
    """Every kind of connection the server makes: requests (the pool), the
    event stream's reader, the doorbell's LISTEN."""
    async with connect(server) as ws:
        subscription = await ws.events(after="0")
        pet_id = await server.arrive("Biscuit")
        [event] = await subscription.take(1, skip=lambda e: e["petId"] != pet_id)
        assert event["type"] == "PET_ARRIVED"


async def test_compose_init_script_then_serve_as_the_api_role_with_a_kept_password(
    password_server: str, superuser: asyncpg.Connection, tmp_path: Path
) -> None:
    # What the postgres image does on an empty volume: make POSTGRES_DB, then
    # run the init scripts as POSTGRES_USER over the unix socket.
    await superuser.execute("create database petstore")
    owner_password = secrets.token_urlsafe(12)
    socket = password_server.split("host=")[1]
    subprocess.run(  # noqa: ASYNC221 - it ends within seconds, nothing else runs meanwhile
        ["sh", str(INIT_SCRIPT)],
        env={
            "PATH": f"{Path(psql_executable()).parent}:/usr/bin:/bin",
            "POSTGRES_USER": "postgres",
            "POSTGRES_DB": "petstore",
            "PETSTORE_OWNER_PASSWORD": owner_password,
            "PGHOST": socket,
        },
        check=True,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
    )
    # compose.yaml's DATABASE_URL: the owner, not the superuser.
    owner_url = with_user(with_database(password_server, "petstore"), OWNER_ROLE, owner_password)
    server = await start_server(owner_url, tmp_path)
    try:
        await _serve_a_write_and_a_subscription(server)
        assert await _session_users(superuser, "petstore") == {API_ROLE}
        log = server.log()
    finally:
        await server.close()
    roles = await superuser.fetch(
        "select rolname, rolsuper, rolcanlogin, rolpassword from pg_authid"
        " where rolname = any($1::text[]) order by rolname",
        [API_ROLE, OWNER_ROLE],
    )
    assert [(r["rolname"], r["rolsuper"], r["rolcanlogin"]) for r in roles] == [
        (API_ROLE, False, True),
        (OWNER_ROLE, False, True),
    ]
    verifier = roles[0]["rolpassword"]
    assert verifier.startswith("SCRAM-SHA-256$")
    petstore = await asyncpg.connect(with_database(password_server, "petstore"))
    try:
        api_password = await petstore.fetchval(
            "select password from petstore_api_login where role = $1", API_ROLE
        )
    finally:
        await petstore.close()
    assert owner_password not in log
    assert api_password not in log

    # A restart (or a second server) logs in with the kept password and never
    # sets a new one, which would lock the others out.
    again = await start_server(owner_url, tmp_path)
    second = await start_server(owner_url, tmp_path)
    try:
        await again.arrive("Rex")
        await second.arrive("Rusty")
        assert await _session_users(superuser, "petstore") == {API_ROLE}
    finally:
        await second.close()
        await again.close()
    assert (
        await superuser.fetchval("select rolpassword from pg_authid where rolname = $1", API_ROLE)
        == verifier
    )


async def test_an_administrator_makes_the_roles_from_migrates_instructions(
    password_server: str, superuser: asyncpg.Connection
) -> None:
    """A server you do not control: the connecting user may not create roles,
    and petstore_api's password is the administrator's to give."""
    await superuser.execute("create role alice login password 'alice-secret'")
    await superuser.execute("create database shop")
    alice = with_user(with_database(password_server, "shop"), "alice", "alice-secret")
    with pytest.raises(RoleSetupError) as refused:
        await migrate(alice)
    assert refused.value.statements == [
        f"create role {OWNER_ROLE} nologin",
        f"create role {API_ROLE} login",
        f'grant {OWNER_ROLE} to "alice"',
        f"grant usage, create on schema public to {OWNER_ROLE}",
        f'revoke temporary on database "shop" from public, {API_ROLE}',
    ]
    assert "PETSTORE_API_DATABASE_URL" in str(refused.value)
    # The README shows this very message.
    assert f"graphql-petstore: {refused.value}\n```" in (ROOT / "README.md").read_text()
    shop = await asyncpg.connect(with_database(password_server, "shop"))
    try:
        for statement in refused.value.statements:
            await shop.execute(statement)
    finally:
        await shop.close()
    assert await migrate(alice) == [migration.name for migration in load_migrations()]

    # The server asks petstore_api for a password that nobody gave to serve.
    with pytest.raises(ConfigurationError, match="PETSTORE_API_DATABASE_URL"):
        await api_database_url(Settings(), alice)
    await superuser.execute(f"alter role {API_ROLE} password 'api-secret'")
    explicit = with_user(with_database(password_server, "shop"), API_ROLE, "api-secret")
    assert await api_database_url(Settings(api_database_url=explicit), alice) == explicit


async def test_a_database_migrated_before_the_roles_existed_is_served_as_the_api_role(
    password_server: str, superuser: asyncpg.Connection
) -> None:
    """An upgrade: every migration but 0015 applied the old way, as postgres,
    when the roles did not exist yet (so the guarded GRANTs of later-numbered
    migrations, sql/0020's, did nothing)."""
    await superuser.execute("create database old")
    url = with_database(password_server, "old")
    least_privilege = "0015_least_privilege.sql"
    await migrate_as_before_0015(url, [m for m in load_migrations() if m.name != least_privilege])
    assert await migrate(url) == [least_privilege]
    api = await asyncpg.connect(await api_database_url(Settings(), url))
    try:
        assert await api.fetchval("select session_user") == API_ROLE
        append = (
            "select (event).id, (pet).status from petstore_append_pet_arrived("
            "$1, $2, 'Rex', 'Dog', 1, '{}', null, 'key', $3)"
        )
        pet_id = uuid.uuid4()
        row = await api.fetchrow(append, uuid.uuid4(), pet_id, "fingerprint")
        assert row is not None
        assert row["status"] == "AVAILABLE"
        with pytest.raises(asyncpg.PostgresError, match="IDEMPOTENCY_KEY_REUSED"):
            await api.fetchrow(append, uuid.uuid4(), pet_id, "another fingerprint")
    finally:
        await api.close()


async def test_embedded_default_serves_as_the_api_role_on_its_first_and_later_runs(
    tmp_path: Path,
) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="ps-emb-", dir=_PARENT))
    try:
        for name in ("First", "Second"):
            server = await start_server("", tmp_path, PETSTORE_DATA_DIR=str(data_dir))
            try:
                await _serve_a_write_and_a_subscription(server)
                superuser = await asyncpg.connect(
                    f"postgresql://postgres@/petstore?host={_socket_directory(data_dir)}"
                )
                try:
                    assert await _session_users(superuser, "petstore") == {API_ROLE}
                    assert (
                        await superuser.fetchval(
                            "select pg_get_userbyid(datdba) from pg_database"
                            " where datname = 'petstore'"
                        )
                        == OWNER_ROLE
                    )
                    await server.arrive(name)
                finally:
                    await superuser.close()
            finally:
                await server.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
