"""How `serve` logs in as petstore_api.

In order of preference:

1. PETSTORE_API_DATABASE_URL, when set: the deployer manages the role's
   password (a server you do not control, several deployments sharing one
   server with password authentication).
2. Else DATABASE_URL with the user swapped for petstore_api, and the password
   that `migrate` gave the role when it made it (claim(), below), which this
   database keeps in petstore_api_login where only petstore_owner can read it.
3. Else DATABASE_URL with the user swapped and no password: servers that trust
   local connections (the embedded server, a development machine) or
   authenticate otherwise (peer, certificates).

A password is set only once, by the `migrate` that made the role: servers
started later read it and never set a new one, so several servers on one
database (or one server's restarts) never invalidate each other's logins.
Passwords are sent to PostgreSQL as SCRAM verifiers, so that a statement log
never holds one, and are never printed or logged here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

import asyncpg

from graphql_petstore.database.location import libpq_url, with_user
from graphql_petstore.database.roles import (
    API_PASSWORD_NOTE,
    API_ROLE,
    OWNER_ROLE,
    RoleSetupError,
    connect_as_owner,
    one_row,
)
from graphql_petstore.errors import ConfigurationError
from graphql_petstore.settings import Settings

LOGIN_TIMEOUT = 10.0
SCRAM_ITERATIONS = 4096  # PostgreSQL's own default (scram_iterations)


async def claim(conn: asyncpg.Connection) -> None:
    """Gives petstore_api its login and a password of its own, if `migrate`
    made the role (it is still NOLOGIN) and the migrations have made the table
    that keeps the password. The role and its kept password change in one
    transaction: a migrate that stops half-way leaves the role unclaimed."""
    can_login = await conn.fetchval("select rolcanlogin from pg_roles where rolname = $1", API_ROLE)
    if can_login is not False or await conn.fetchval(
        "select to_regclass('petstore_api_login') is null"
    ):
        return
    password = secrets.token_urlsafe(32)
    encryption = await conn.fetchval("select current_setting('password_encryption')")
    if encryption == "md5":
        verifier = md5_verifier(password, API_ROLE)
    else:
        verifier = scram_sha_256_verifier(password)
    try:
        async with conn.transaction():
            # The verifier is base64, digits, '$' and ':': nothing to escape.
            await conn.execute(f"alter role {API_ROLE} login password '{verifier}'")
            await conn.execute(f"set local role {OWNER_ROLE}")
            await conn.execute(
                "insert into petstore_api_login (role, password) values ($1, $2)"
                " on conflict (role) do update set password = excluded.password, set_at = now()",
                API_ROLE,
                password,
            )
    except asyncpg.InsufficientPrivilegeError:
        user, database = await one_row(conn, "select current_user, current_database()")
        raise RoleSetupError(
            user,
            database,
            [f"alter role {API_ROLE} login"],
            note=API_PASSWORD_NOTE,
        ) from None


async def api_database_url(settings: Settings, admin_url: str) -> str:
    """The URL on which `serve` does all its work, checked: it logs in, as a
    role with petstore_api's rights and no more."""
    if settings.api_database_url:
        await check_login(settings.api_database_url, "PETSTORE_API_DATABASE_URL")
        return settings.api_database_url
    passwords: list[str | None] = [await _kept_password(admin_url), None]
    for password in dict.fromkeys(passwords):
        url = with_user(admin_url, API_ROLE, password)
        try:
            await check_login(url, "DATABASE_URL (as petstore_api)")
        except asyncpg.InvalidAuthorizationSpecificationError:
            continue
        return url
    where = urlsplit(libpq_url(admin_url))
    raise ConfigurationError(
        f"serve cannot log in as {API_ROLE} to database {where.path.lstrip('/')!r}"
        f"{' on ' + where.hostname if where.hostname else ''}: the server wants a password "
        f"that this database does not keep ({API_ROLE} was made outside this database's "
        f"migrate). Set PETSTORE_API_DATABASE_URL to a URL that logs in as {API_ROLE} "
        f"(a superuser sets its password with: ALTER ROLE {API_ROLE} PASSWORD '…')."
    )


async def check_login(url: str, setting: str) -> None:
    """Logs in; refuses a role that could do more than petstore_api may."""
    # No statement cache: `url` may lead through a transaction pooler, whose
    # server sessions would keep this connection's named statements.
    conn = await asyncpg.connect(libpq_url(url), timeout=LOGIN_TIMEOUT, statement_cache_size=0)
    try:
        row = await one_row(
            conn,
            """
            select current_user as name, r.rolsuper as superuser,
                pg_has_role(current_user, $1, 'MEMBER') as owner,
                pg_has_role(current_user, $2, 'USAGE') as api,
                coalesce(has_table_privilege(to_regclass('public.pets'),
                    'INSERT, UPDATE, DELETE, TRUNCATE'), false) as writes_pets
            from pg_roles r where r.rolname = current_user
            """,
            OWNER_ROLE,
            API_ROLE,
        )
    finally:
        await conn.close()
    if row["superuser"] or row["owner"] or row["writes_pets"]:
        raise ConfigurationError(
            f"{setting} logs in as {row['name']}, which can bypass the store's rules "
            f"(a superuser, {OWNER_ROLE} or a role that may write pets); serve must log in "
            f"as {API_ROLE}"
        )
    if not row["api"]:
        raise ConfigurationError(
            f"{setting} logs in as {row['name']}, which does not have {API_ROLE}'s "
            f"privileges; serve must log in as {API_ROLE} or a role that inherits it"
        )


async def _kept_password(admin_url: str) -> str | None:
    conn = await connect_as_owner(admin_url)
    try:
        if await conn.fetchval("select to_regclass('petstore_api_login') is null"):
            return None
        password: str | None = await conn.fetchval(
            "select password from petstore_api_login where role = $1", API_ROLE
        )
        return password
    finally:
        await conn.close()


def scram_sha_256_verifier(password: str, salt: bytes | None = None) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802, 7677),
    in its own format; what psql's \\password sends instead of the password.
    (SASLprep is the identity on the ASCII passwords made here.)"""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    encoded = [base64.b64encode(part).decode() for part in (salt, stored_key, server_key)]
    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{encoded[0]}${encoded[1]}:{encoded[2]}"


def md5_verifier(password: str, role: str) -> str:
    """The md5 form, for servers whose password_encryption is still md5."""
    return "md5" + hashlib.md5((password + role).encode()).hexdigest()
