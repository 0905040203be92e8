"""The two database roles, and this database's share of their privileges.

    petstore_owner  owns every object of the schema and runs the migrations;
                    the connecting user (DATABASE_URL) is it, or acts as it
                    with SET ROLE. Not a superuser.
    petstore_api    what `serve` logs in as: appends events and reads what it
                    serves (sql/0015_least_privilege.sql grants exactly that).
                    Not a superuser, no other powers, a member of nothing.

Roles belong to the whole PostgreSQL server while a database belongs to one
deployment: every petstore database on a server shares the two roles, and
each grants them privileges on its own objects. So `migrate` makes the roles
when they are missing, checks them when they exist (another deployment, or an
administrator, made them), and sets what lives in this database. Whatever the
connecting user may not do is collected and reported as the SQL to run by
somebody who may (RoleSetupError), instead of failing half-way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from graphql_petstore.database.location import libpq_url
from graphql_petstore.errors import MigrationError

OWNER_ROLE = "petstore_owner"
API_ROLE = "petstore_api"

# Memberships that would give petstore_api more than its grants: the owner's
# rights, or the predefined roles that read, write or run anything on the
# server. (Roles with role attributes are refused by the query itself.)
_FORBIDDEN_FOR_API = (
    OWNER_ROLE,
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_write_all_data",
)
# Errors of statements that the connecting user may not run, or that depend
# on one it could not run (a role it failed to create does not exist).
_NOT_ALLOWED = (asyncpg.InsufficientPrivilegeError, asyncpg.UndefinedObjectError)
# Another process (another database's migrate) made the same change first.
_ALREADY_DONE = (asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError)


class RoleSetupError(MigrationError):
    """The connecting user may not make the roles or grants; the message holds
    the SQL that somebody who may must run."""

    def __init__(self, user: str, database: str, statements: list[str], note: str = "") -> None:
        self.statements = statements
        lines = "\n".join(f"    {statement};" for statement in statements)
        super().__init__(
            f"{user} may not set up the database roles of graphql-petstore. Have a "
            f"superuser (or a role with CREATEROLE that owns database {database}) run, "
            f"connected to database {database}:\n\n{lines}\n\n"
            f"then run graphql-petstore migrate again.{note}"
        )


@dataclass(frozen=True)
class Step:
    """A statement to run, and what to ask of somebody else if this user may
    not run it (by default the same statement)."""

    sql: str
    instead: str = ""

    @property
    def instruction(self) -> str:
        return self.instead or self.sql


# Made by migrate, petstore_api starts without a login, which api_login.claim
# gives it with a password of its own. Made by somebody else, it needs its
# login from them (and a password, when the server asks for one).
_CREATE_API = Step(f"create role {API_ROLE} nologin", f"create role {API_ROLE} login")
API_PASSWORD_NOTE = (
    f"\nIf the server asks {API_ROLE} for a password, give it one as well"
    f" (ALTER ROLE {API_ROLE} PASSWORD '…') and set PETSTORE_API_DATABASE_URL"
    f" to a URL that logs in with it."
)


async def one_row(conn: asyncpg.Connection, query: str, *args: object) -> asyncpg.Record:
    """The row of a query that always returns one."""
    row = await conn.fetchrow(query, *args)
    assert row is not None, query
    return row


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def prepare(conn: asyncpg.Connection) -> None:
    """Makes the roles and this database's privileges right, as the
    connecting user; raises RoleSetupError when it may not."""
    failed = await ensure_roles(conn)
    failed += await _converge(conn, _database_statements)
    legacy_owner = await _legacy_owner(conn)
    if legacy_owner is not None:
        failed += await _converge(conn, lambda c: _adoption_statements(c, legacy_owner))
    if failed:
        user, database = await one_row(conn, "select current_user, current_database()")
        note = API_PASSWORD_NOTE if _CREATE_API.instruction in failed else ""
        raise RoleSetupError(user, database, failed, note)
    await _keep_idle_transaction_timeout(conn)


async def _keep_idle_transaction_timeout(conn: asyncpg.Connection) -> None:
    # sql/0009 sets it on the database, which only the database's owner may:
    # petstore_owner, the migrations' role, often is not. The connecting user
    # sets it instead when it may (a database's settings are not copied by
    # CREATE DATABASE … TEMPLATE either); when it may not, 0009 has said so.
    missing = await conn.fetchval(
        """
        select not exists (
            select from pg_db_role_setting s, unnest(s.setconfig) c
            where s.setrole = 0 and c like 'idle_in_transaction_session_timeout=%'
                and s.setdatabase = (select oid from pg_database where datname = current_database())
        )
        """
    )
    if missing:
        database = await conn.fetchval("select current_database()")
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                f"alter database {quote_ident(database)}"
                " set idle_in_transaction_session_timeout = '60s'"
            )


async def ensure_roles(conn: asyncpg.Connection) -> list[str]:
    """Makes the server's roles right; returns the statements it may not run."""
    return await _converge(conn, _role_statements)


async def act_as_owner(conn: asyncpg.Connection) -> None:
    """From here on, this session creates and alters as petstore_owner."""
    if await conn.fetchval("select current_user") != OWNER_ROLE:
        await conn.execute(f"set role {OWNER_ROLE}")


async def connect_as_owner(url: str) -> asyncpg.Connection:
    """A session of the connecting user acting as petstore_owner (verify,
    rebuild): what it may do is what the owner may."""
    return await asyncpg.connect(libpq_url(url), server_settings={"role": OWNER_ROLE})


async def _role_statements(conn: asyncpg.Connection) -> list[Step | str]:
    statements: list[Step | str] = []
    rows = await conn.fetch(
        "select rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
        " from pg_roles where rolname = any($1::text[])",
        [OWNER_ROLE, API_ROLE],
    )
    roles = {row["rolname"]: row for row in rows}
    if OWNER_ROLE not in roles:
        statements.append(f"create role {OWNER_ROLE} nologin")
    if API_ROLE not in roles:
        statements.append(_CREATE_API)
    owner = roles.get(OWNER_ROLE)
    if owner is not None and owner["rolsuper"]:
        statements.append(f"alter role {OWNER_ROLE} nosuperuser")
    api = roles.get(API_ROLE)
    if api is not None and any(
        api[attribute]
        for attribute in (
            "rolsuper",
            "rolcreaterole",
            "rolcreatedb",
            "rolreplication",
            "rolbypassrls",
        )
    ):
        statements.append(
            f"alter role {API_ROLE} nosuperuser nocreaterole nocreatedb noreplication nobypassrls"
        )
    if api is not None:
        memberships = await conn.fetch(
            """
            select r.rolname from pg_roles r
            where r.rolname <> $1 and pg_has_role($1, r.oid, 'MEMBER')
                and (r.rolname = any($2::text[]) or r.rolsuper or r.rolcreaterole
                     or r.rolcreatedb or r.rolreplication or r.rolbypassrls)
            order by 1
            """,
            API_ROLE,
            list(_FORBIDDEN_FOR_API),
        )
        statements += [f"revoke {quote_ident(m['rolname'])} from {API_ROLE}" for m in memberships]
    # The connecting user must be able to SET ROLE petstore_owner.
    me = await one_row(
        conn, "select current_user as name, rolsuper from pg_roles where rolname = current_user"
    )
    if not me["rolsuper"] and me["name"] != OWNER_ROLE:
        # PostgreSQL 16 split membership into INHERIT and SET; SET is what counts.
        privilege = "SET" if conn.get_server_version().major >= 16 else "MEMBER"
        can_act = owner is not None and await conn.fetchval(
            f"select pg_has_role(current_user, $1, '{privilege}')", OWNER_ROLE
        )
        if not can_act:
            statements.append(f"grant {OWNER_ROLE} to {quote_ident(me['name'])}")
    return statements


async def _database_statements(conn: asyncpg.Connection) -> list[str]:
    """The privileges that live in this database but outside its objects
    (schema public, the database itself), which the migrations, running as
    petstore_owner, may not set. A role that does not exist yet (the user may
    not create it) has what PUBLIC has, so that the instructions are complete."""
    existing = {
        row["rolname"]
        for row in await conn.fetch(
            "select rolname from pg_roles where rolname = any($1::text[])", [OWNER_ROLE, API_ROLE]
        )
    }
    row = await one_row(
        conn,
        """
        select current_database() as db,
            has_schema_privilege($1, 'public', 'CREATE') as owner_creates,
            has_schema_privilege($1, 'public', 'USAGE') as owner_uses,
            has_schema_privilege($2, 'public', 'USAGE') as api_uses,
            has_schema_privilege($2, 'public', 'CREATE') as api_creates,
            has_database_privilege($2, current_database(), 'CONNECT') as api_connects,
            has_database_privilege($2, current_database(), 'TEMPORARY') as api_temporary
        """,
        OWNER_ROLE if OWNER_ROLE in existing else "public",
        API_ROLE if API_ROLE in existing else "public",
    )
    database = quote_ident(row["db"])
    statements = []
    if not (row["owner_creates"] and row["owner_uses"]):
        statements.append(f"grant usage, create on schema public to {OWNER_ROLE}")
    if not row["api_uses"]:
        statements.append(f"grant usage on schema public to {API_ROLE}")
    # Before PostgreSQL 15 (and in clusters upgraded from there) everybody
    # could create in public.
    if row["api_creates"]:
        statements.append(f"revoke create on schema public from public, {API_ROLE}")
    if not row["api_connects"]:
        statements.append(f"grant connect on database {database} to {API_ROLE}")
    # Temporary tables and functions: nothing the API needs. (Kept in the
    # database's own ACL, which CREATE DATABASE … TEMPLATE does not copy.)
    if row["api_temporary"]:
        statements.append(restrict_temporary_statement(row["db"]))
    return statements


def restrict_temporary_statement(database: str) -> str:
    return f"revoke temporary on database {quote_ident(database)} from public, {API_ROLE}"


async def _legacy_owner(conn: asyncpg.Connection) -> int | None:
    """Before sql/0015 the migrations ran as whoever connected, who then owned
    every object, the ledger included: the ledger's owner, if it is not
    petstore_owner."""
    owner: int | None = await conn.fetchval(
        "select relowner from pg_class where oid = to_regclass('public.schema_migrations')"
        " and relowner <> (select oid from pg_roles where rolname = $1)",
        OWNER_ROLE,
    )
    return owner


async def _adoption_statements(conn: asyncpg.Connection, legacy: int) -> list[str]:
    """Hands what `legacy` owns in schema public to petstore_owner, before any
    migration runs as petstore_owner (which could not replace a function that
    it does not own)."""
    rows = await conn.fetch(
        """
        with owned as (
            -- Tables (their indexes, row types and the sequences they own
            -- follow them), then views and free-standing sequences.
            select 1 as rank, 'pg_class'::regclass as catalog, c.oid,
                format('alter table %s owner to %I', c.oid::regclass, $2::text) as statement
            from pg_class c
            where c.relnamespace = 'public'::regnamespace and c.relowner = $1::oid
                and c.relkind in ('r', 'p', 'f')
            union all
            select 2, 'pg_class'::regclass, c.oid,
                format('alter table %s owner to %I', c.oid::regclass, $2::text)
            from pg_class c
            where c.relnamespace = 'public'::regnamespace and c.relowner = $1::oid
                and c.relkind in ('v', 'm')
            union all
            select 3, 'pg_class'::regclass, c.oid,
                format('alter sequence %s owner to %I', c.oid::regclass, $2::text)
            from pg_class c
            where c.relnamespace = 'public'::regnamespace and c.relowner = $1::oid
                and c.relkind = 'S'
                and not exists (
                    select from pg_depend d
                    where d.classid = 'pg_class'::regclass and d.objid = c.oid
                        and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i'))
            union all
            select 4, 'pg_proc'::regclass, p.oid,
                format('alter routine %s owner to %I', p.oid::regprocedure, $2::text)
            from pg_proc p
            where p.pronamespace = 'public'::regnamespace and p.proowner = $1::oid
            union all
            -- Free-standing types (enums, domains, composite types of their own).
            select 5, 'pg_type'::regclass, t.oid,
                format('alter type %s owner to %I', t.oid::regtype, $2::text)
            from pg_type t
            left join pg_class c on c.oid = t.typrelid
            where t.typnamespace = 'public'::regnamespace and t.typowner = $1::oid
                and t.typelem = 0 and (t.typrelid = 0 or c.relkind = 'c')
        )
        select o.statement from owned o
        -- The objects of an extension are the extension's.
        where not exists (
            select from pg_depend d
            where d.classid = o.catalog and d.objid = o.oid and d.deptype = 'e')
        order by o.rank, o.statement
        """,
        legacy,
        OWNER_ROLE,
    )
    return [row["statement"] for row in rows]


async def _converge(
    conn: asyncpg.Connection,
    needed: Callable[[asyncpg.Connection], Awaitable[Sequence[Step | str]]],
) -> list[str]:
    """Runs what is `needed`, then asks again: what is still needed is what
    the user may not do. (Asking again, because a GRANT or REVOKE that the
    user may not make only warns, "no privileges were granted".) Returns
    what to ask of somebody else."""
    for step in await needed(conn):
        await _run(conn, step if isinstance(step, Step) else Step(step))
    return [step.instruction if isinstance(step, Step) else step for step in await needed(conn)]


async def _run(conn: asyncpg.Connection, step: Step) -> None:
    for attempt in range(2):
        try:
            await conn.execute(step.sql)
        except (*_ALREADY_DONE, *_NOT_ALLOWED):
            pass
        except asyncpg.InternalServerError as exc:
            # Two databases' migrations changing one role at the same
            # moment: the catalogue row was updated under this one.
            if attempt or "concurrently" not in str(exc):
                raise
            continue
        return
