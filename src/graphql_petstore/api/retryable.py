"""Failures that a client should retry: which exception means which code,
and the HTTP answer to an operation that failed as a whole for them.

    the database cannot be reached, or dropped    DATABASE_UNAVAILABLE
      the connection of a read
    no pooled connection became free in time      DATABASE_BUSY
      (the lean pool's PoolTimeoutError,
      SQLAlchemy's TimeoutError)
    PostgreSQL cancelled the statement (57014,    STATEMENT_TIMEOUT
      statement_timeout)
    the request's own time limit (deadline.py)    REQUEST_TIMEOUT

Such a response with no data at all is HTTP 503 with Retry-After (docs/errors.md
says how that fits GraphQL over HTTP). Writes are told apart before they get
here: an append whose connection broke is DATABASE_UNAVAILABLE only once the
server knows that nothing was stored (database/appends.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
from graphql import GraphQLError
from sqlalchemy.exc import TimeoutError as SQLAlchemyPoolTimeout

from graphql_petstore import error_codes
from graphql_petstore.database.pool import PoolTimeoutError, connection_lost

# Seconds a client is asked to wait before it retries.
RETRY_AFTER_SECONDS = 1

MESSAGES = {
    error_codes.DATABASE_UNAVAILABLE: "the database could not be reached; retry",
    error_codes.DATABASE_BUSY: (
        "the database is busy: no connection became free in time, and nothing was run; retry"
    ),
    error_codes.STATEMENT_TIMEOUT: (
        "the database cancelled a statement that ran past its time limit; retry"
    ),
    error_codes.REQUEST_TIMEOUT: "the request ran past its time limit and was stopped; retry",
}
CODES = frozenset(MESSAGES)
_QUERY_CANCELED = "57014"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (SQLAlchemy keeps the driver's error
    as .orig, whose cause is asyncpg's)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return seen


def code_of(exc: BaseException | None) -> str | None:
    """The retryable code that `exc` means, or None."""
    if exc is None:
        return None
    for cause in _causes(exc):
        if isinstance(cause, PoolTimeoutError | SQLAlchemyPoolTimeout):
            return error_codes.DATABASE_BUSY
        if isinstance(cause, asyncpg.PostgresError) and cause.sqlstate == _QUERY_CANCELED:
            return error_codes.STATEMENT_TIMEOUT
        if getattr(cause, "connection_invalidated", False):
            return error_codes.DATABASE_UNAVAILABLE
        if isinstance(cause, asyncpg.PostgresError | asyncpg.InterfaceError | OSError) and (
            connection_lost(cause)
        ):
            return error_codes.DATABASE_UNAVAILABLE
    return None


def error(code: str) -> GraphQLError:
    return GraphQLError(MESSAGES[code], extensions={"code": code, "retryable": True})


def give_code(error: GraphQLError) -> bool:
    """Codes an unexpected error whose cause is retryable, in place; False
    when it is not one (it is masked then)."""
    code = code_of(error.original_error)
    if code is None:
        return False
    error.message = MESSAGES[code]
    error.extensions = {**(error.extensions or {}), "code": code, "retryable": True}
    return True


def failed_whole(response: Mapping[str, Any] | object) -> bool:
    """Whether a GraphQL response failed as a whole for retryable reasons
    only: no data, and every error retryable."""
    if not isinstance(response, Mapping) or response.get("data") is not None:
        return False
    errors = response.get("errors")
    if not errors:
        return False
    for item in errors:
        extensions = item.get("extensions") if isinstance(item, Mapping) else None
        if not isinstance(extensions, Mapping) or extensions.get("code") not in CODES:
            return False
    return True


def headers() -> list[tuple[bytes, bytes]]:
    return [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
