"""Where the database is: DATABASE_URL, or the embedded server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import asyncpg

from graphql_petstore.database.embedded import EmbeddedPostgres
from graphql_petstore.settings import EMBEDDED_DATABASE_NAME, Settings


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """Yields the libpq URL to use; with no DATABASE_URL, runs the embedded
    server for the duration, its data under settings.data_dir."""
    if settings.database_url:
        yield settings.database_url
        return
    server = EmbeddedPostgres(settings.data_dir)
    admin_url = server.start()
    try:
        asyncio.run(ensure_database(admin_url, EMBEDDED_DATABASE_NAME))
        yield with_database(admin_url, EMBEDDED_DATABASE_NAME)
    finally:
        server.stop()


def with_database(url: str, database: str) -> str:
    """The same server URL, naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


def with_user(url: str, user: str, password: str | None = None) -> str:
    """The same server and database, logging in as `user` (with `password`,
    or with none: then the server must not ask for one, or the environment
    supplies it as libpq does, PGPASSWORD or a password file)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    login = quote(user, safe="")
    if password is not None:
        login += ":" + quote(password, safe="")
    # libpq also takes the user and password from the query string.
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("user", "password")]
    return urlunsplit(parts._replace(netloc=f"{login}@{host}", query=urlencode(query, safe="/")))


def sqlalchemy_url(url: str) -> str:
    """A libpq URL (postgres:// or postgresql://) for SQLAlchemy's asyncpg dialect."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgres", "postgresql"):
        raise ValueError(f"not a PostgreSQL URL: {scheme}://…")
    return f"postgresql+asyncpg://{rest}"


def libpq_url(url: str) -> str:
    """A URL that asyncpg and psql accept (drops a SQLAlchemy driver suffix)."""
    scheme, sep, rest = url.partition("://")
    return f"postgresql://{rest}" if sep and scheme.startswith("postgresql+") else url


async def ensure_database(admin_url: str, name: str) -> None:
    """Makes the embedded server's database, owned by petstore_owner (so that
    the migrations, which run as it, may set the database's own settings)."""
    from graphql_petstore.database.roles import OWNER_ROLE, ensure_roles

    conn = await asyncpg.connect(libpq_url(admin_url))
    try:
        exists = await conn.fetchval("select 1 from pg_database where datname = $1", name)
        if not exists:
            owner = "" if await ensure_roles(conn) else f" owner {OWNER_ROLE}"
            # Another process may make it first.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'create database "{name}"{owner}')
    finally:
        await conn.close()
