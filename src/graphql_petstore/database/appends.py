"""Appending an event: one statement, whose outcome the caller always learns.

Each event type has its append function (sql/0020_append_functions.sql): it
claims the idempotency key (or replays what the key stored), INSERTs into the
event's own table — where the triggers check the rule and fold the event
into `pets` — and returns the stored event with the pet as it left it. One
round trip, one transaction.

A client must be told an append failed only if nothing was stored. When the
connection breaks while the statement is out (PostgreSQL restarting, the
backend terminated, the network gone), the event may or may not have
committed. The server made the event's id before sending it, so it settles
the question: once the backend that ran the statement is gone (terminated
if it still lingers, so that nothing can commit later), the event either
exists or never will. See `run_append`. When no connection can be had at
all (the database refuses or is starting up), nothing was sent: that is
reported as not stored at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import orjson

from graphql_petstore import deadline
from graphql_petstore.database.pool import (
    ConnectionPool,
    PetstoreConnection,
    PoolTimeoutError,
    connection_lost,
)
from graphql_petstore.database.rejections import domain_error_of
from graphql_petstore.database.tables import EVENT_TABLES, pet_event_log
from graphql_petstore.errors import PetstoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# How long an append whose connection broke may take to learn its outcome
# (PostgreSQL restarting takes a few seconds), and how often it looks.
SETTLE_TIMEOUT = 15.0
SETTLE_INTERVAL = 0.25


@dataclass(frozen=True)
class Idempotency:
    key: str
    fingerprint: str  # of the request, so that a reused key can be told apart


@dataclass(frozen=True)
class Command:
    """One event to append, with everything the server decided about it."""

    event_type: str
    event_id: uuid.UUID
    columns: Mapping[str, Any]  # the event type's own columns, pet_id first
    metadata: Mapping[str, Any]
    expected_version: int | None
    idempotency: Idempotency | None


# What every event table has; the rest of pet_event_log's columns are payloads.
_BASE_COLUMNS = frozenset(
    ("id", "created_at", "event_type", "metadata", "pet_id", "pet_version", "tx_id", "seq")
)


@dataclass(frozen=True)
class AppendFunction:
    name: str
    event_type: str
    # The event type's own parameters, in order, with their SQL types.
    columns: tuple[tuple[str, str], ...]
    # Columns that the function leaves out when null, so that the column's
    # default decides (a date: today).
    defaulted: tuple[str, ...] = ()

    def call(self, placeholder: Callable[[int, str], str]) -> str:
        """The SQL call, its parameters named by `placeholder(index, type)`."""
        types = ["uuid", *(sql_type for _, sql_type in self.columns)]
        types += ["jsonb", "integer", "text", "text"]
        return f"{self.name}({', '.join(placeholder(i, t) for i, t in enumerate(types))})"

    def insertable(self, command: Command) -> bool:
        """Whether `insert` appends `command` as the function would: without
        an idempotency key to claim, and with every defaulted column given."""
        return command.idempotency is None and all(
            command.columns.get(name) is not None for name in self.defaulted
        )

    def insert(self, placeholder: Callable[[int, str], str], returning: str | None = None) -> str:
        """The append without the function, for an `insertable` command: the
        INSERT into the event's own table (named `e` in the statement),
        returning `returning` (an expression over the stored row), else the
        stored event as one pet_event_log row named `event`. Its parameters
        are the call's first ones, numbered alike; `insert_arguments` gives
        them."""
        table = EVENT_TABLES[self.event_type].name
        own = [name for name, _ in self.columns]
        names = ["id", *own, "metadata", "expected_version"]
        types = ["uuid", *(sql_type for _, sql_type in self.columns), "jsonb", "integer"]
        values = ", ".join(placeholder(i, t) for i, t in enumerate(types))
        if returning is None:
            # The view's columns in its order: this table's payload columns
            # where it has them, null elsewhere (as the function's RETURNING).
            logged = [
                f"e.{c.name}" if c.name in _BASE_COLUMNS or c.name in own else "null"
                for c in pet_event_log.c
            ]
            returning = f"row({', '.join(logged)})::pet_event_log as event"
        return (
            f"insert into {table} as e ({', '.join(names)}) values ({values}) returning {returning}"
        )

    def arguments(self, command: Command) -> list[Any]:
        key = command.idempotency
        return [
            *self.insert_arguments(command),
            None if key is None else key.key,
            None if key is None else key.fingerprint,
        ]

    def insert_arguments(self, command: Command) -> list[Any]:
        return [
            command.event_id,
            *(command.columns.get(name) for name, _ in self.columns),
            metadata_json(command.metadata),
            command.expected_version,
        ]


APPEND_FUNCTIONS: dict[str, AppendFunction] = {
    "PET_ARRIVED": AppendFunction(
        "petstore_append_pet_arrived",
        "PET_ARRIVED",
        (("pet_id", "uuid"), ("name", "text"), ("species", "text"), ("price", "numeric")),
    ),
    "PET_BORN": AppendFunction(
        "petstore_append_pet_born",
        "PET_BORN",
        (
            ("pet_id", "uuid"),
            ("mother_id", "uuid"),
            ("name", "text"),
            ("species", "text"),
            ("price", "numeric"),
        ),
    ),
    "PET_SOLD": AppendFunction(
        "petstore_append_pet_sold",
        "PET_SOLD",
        (("pet_id", "uuid"), ("customer_id", "uuid"), ("sale_price", "numeric")),
    ),
    "PET_PRICE_CHANGE": AppendFunction(
        "petstore_append_pet_price_change",
        "PET_PRICE_CHANGE",
        (("pet_id", "uuid"), ("new_price", "numeric"), ("old_price", "numeric")),
    ),
    "PET_LOST": AppendFunction(
        "petstore_append_pet_lost",
        "PET_LOST",
        (("pet_id", "uuid"), ("lost_date", "date"), ("last_seen_location", "text")),
        defaulted=("lost_date",),
    ),
    "PET_FOUND_AGAIN": AppendFunction(
        "petstore_append_pet_found_again",
        "PET_FOUND_AGAIN",
        (("pet_id", "uuid"), ("found_date", "date"), ("found_location", "text")),
        defaulted=("found_date",),
    ),
}

_RECORD_PLACEHOLDER: Callable[[int, str], str] = lambda index, sql_type: f"${index + 1}::{sql_type}"  # noqa: E731
# The stored event and the pet, each as one composite column.
_CALLS = {
    event_type: f"select r.event, r.pet from {function.call(_RECORD_PLACEHOLDER)} r"
    for event_type, function in APPEND_FUNCTIONS.items()
}
_APPENDED = "select r.event, r.pet from petstore_appended($1::uuid) r"


# What a connection that is gone, or cannot be made, raises: asyncpg's own
# errors (InternalClientError when its protocol state no longer matches the
# socket's), the server's, and the socket's (TimeoutError is an OSError).
_CONNECTION_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


class AppendOutcomeUnknown(PetstoreError):
    """The connection broke while the append was out, and the database could
    not be asked in time whether it committed: neither success nor failure
    may be reported."""

    def __init__(self, event_id: uuid.UUID) -> None:
        super().__init__(
            f"the database could not confirm whether event {event_id} was stored; "
            "retry with the same idempotencyKey, or look the event up by its id"
        )
        self.event_id = event_id


async def append(pool: ConnectionPool, command: Command) -> tuple[asyncpg.Record, asyncpg.Record]:
    """Stores one event; returns (the stored event, the pet right after it),
    each as a record of pet_event_log's and pets' columns.

    With an idempotency key that a stored event already has, stores nothing
    and returns that event and the pet right after it instead. Raises
    DomainError when a rule refuses the event or the key was used for a
    different request.
    """
    arguments = APPEND_FUNCTIONS[command.event_type].arguments(command)
    row = await run_append(
        pool,
        command.event_id,
        lambda conn: conn.fetchrow(_CALLS[command.event_type], *arguments),
        lambda conn: conn.fetchrow(_APPENDED, command.event_id),
    )
    assert row is not None, "an append function returns one row"
    return row["event"], row["pet"]


async def appended(
    pool: ConnectionPool, event_id: uuid.UUID
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """A stored event and the pet as it left it, read back by its id."""
    async with pool.connection() as conn:
        row = await conn.fetchrow(_APPENDED, event_id)
    assert row is not None, f"event {event_id} is stored"
    return row["event"], row["pet"]


async def run_append(
    pool: ConnectionPool,
    event_id: uuid.UUID,
    attempt: Callable[[PetstoreConnection], Awaitable[T]],
    settled: Callable[[PetstoreConnection], Awaitable[T | None]],
) -> T:
    """Runs `attempt` (one statement that appends event `event_id`) and
    returns what it returned. When its connection breaks first, returns what
    `settled` (the same answer, read back by the event's id) returns once the
    outcome is known, raises AppendNotStored when nothing was stored (as
    when no connection could be made at all), or AppendOutcomeUnknown when
    the database cannot be asked in time. DomainError (a rule refused the
    event), other database errors (the statement failed, so its transaction
    rolled back) and PoolTimeoutError (nothing was sent) pass through."""
    # From here the request runs to the write's outcome: neither its time
    # limit nor its client leaving may cancel it (graphql_petstore.deadline).
    deadline.hold()
    sent = False
    backend: tuple[int, Any] | None = None
    try:
        async with pool.connection() as conn:
            sent = True
            backend = conn.backend  # None through a transaction pooler
            return await attempt(conn)
    except _CONNECTION_ERRORS as exc:
        if not sent:
            # No connection could be made: nothing was sent.
            raise AppendNotStored(event_id, exc) from exc
        if isinstance(exc, asyncpg.DataError):
            raise  # the arguments were refused before anything was sent
        if not connection_lost(exc) and not isinstance(exc, asyncpg.InternalClientError):
            error = domain_error_of(exc) if isinstance(exc, asyncpg.PostgresError) else None
            if error is not None:
                raise error from exc
            raise
        # Lost, or asyncpg lost track of the protocol (as when the server's
        # last words reach an idle pooled connection): the statement may
        # have gone out.
        lost: BaseException = exc
    logger.warning("append of event %s: connection lost (%s); settling its outcome", event_id, lost)
    return await _settle(pool, event_id, backend, settled, lost)


class AppendNotStored(PetstoreError):
    """The database could not be reached, or the connection broke while the
    append was out and it did not commit: nothing was stored."""

    def __init__(self, event_id: uuid.UUID, cause: BaseException) -> None:
        super().__init__(f"event {event_id} was not stored: the database could not be reached")
        self.event_id = event_id
        self.__cause__ = cause


class BackendLingers(Exception):
    """The backend that ran an append is still there: its outcome is open."""


async def _settle(
    pool: ConnectionPool,
    event_id: uuid.UUID,
    backend: tuple[int, Any] | None,
    settled: Callable[[PetstoreConnection], Awaitable[T | None]],
    lost: BaseException,
) -> T:
    """`backend` None: the append went through a transaction pooler, which
    does not say which backend ran it, so none can be ended and the event may
    still commit: only its arrival settles the outcome, and until the
    deadline passes without it nothing can be reported but "unknown"."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT
    while True:
        try:
            # Bounded as a whole: a connect or a wait for the backend to go
            # may each take longer than what is left.
            async with asyncio.timeout_at(deadline):
                async with pool.connection() as conn:
                    if backend is not None:
                        await _end_backend(conn, backend)
                    found = await settled(conn)
        except (*_CONNECTION_ERRORS, PoolTimeoutError, BackendLingers) as exc:
            # Whatever went wrong, the question is still open: it must not
            # escape as an error that says nothing was stored.
            if loop.time() >= deadline:
                raise AppendOutcomeUnknown(event_id) from exc
            await asyncio.sleep(SETTLE_INTERVAL)
            continue
        if found is None and backend is None:
            if loop.time() >= deadline:
                raise AppendOutcomeUnknown(event_id) from lost
            await asyncio.sleep(SETTLE_INTERVAL)
            continue
        if found is None:
            raise AppendNotStored(event_id, lost)
        logger.info("append of event %s: committed before its connection was lost", event_id)
        return found


async def _end_backend(conn: PetstoreConnection, backend: tuple[int, Any]) -> None:
    """Waits until the backend that ran the append is gone, terminating it if
    it lingers: a transaction it still has open could otherwise commit after
    the event was reported missing. Backends are told apart by pid and start
    time, so a pid that was reused is left alone."""
    pid, started = backend
    # false: still there after the wait (PostgreSQL only warns then).
    gone = await conn.fetchval(
        "select pg_terminate_backend(pid, 5000) from pg_stat_activity"
        " where pid = $1 and backend_start = $2",
        pid,
        started,
    )
    if gone is False:
        raise BackendLingers(f"backend {pid} did not end within 5 s")


def metadata_json(metadata: Mapping[str, Any]) -> str:
    """The metadata as JSON text for its jsonb column: orjson's, or the json
    module's for what orjson refuses (an integer past 64 bits, a lone
    surrogate), as every append wrote it before orjson did."""
    try:
        return orjson.dumps(metadata).decode()
    except TypeError:
        return json.dumps(metadata)
