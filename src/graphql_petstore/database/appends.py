"""Appending an event: one INSERT into the event's own table.

The triggers of sql/0006 check the rule and fold the event into `pets` within
the INSERT, which commits on its own. The pet is read right after; when another
event on it has committed in between (its version is past this event's), the
state this event left is folded from the history instead, with the same
pet_fold() that the triggers use. Two round trips in the common case, three
under contention, and never a transaction held open across them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from graphql_petstore.database.reads import events_by_id, pet_at_version
from graphql_petstore.database.rejections import domain_error
from graphql_petstore.database.tables import EVENT_TABLES, as_read, idempotency_keys, pets
from graphql_petstore.errors import DomainError


@dataclass(frozen=True)
class Idempotency:
    key: str
    fingerprint: str  # of the request, so that a reused key can be told apart


async def append_event(
    engine: AsyncEngine,
    event_type: str,
    values: Mapping[str, Any],
    idempotency: Idempotency | None = None,
) -> tuple[RowMapping, RowMapping]:
    """Stores one event; returns (the stored event, the pet right after it).

    With an idempotency key that a stored event already has, stores nothing
    and returns that event and the pet right after it instead. Raises
    DomainError when a rule of the database refuses the event, or when the key
    was used for a different request (IDEMPOTENCY_KEY_REUSED).
    """
    if idempotency is not None:
        return await _append_once(engine, event_type, values, idempotency)
    async with engine.connect() as conn:
        event = await _insert(conn, event_type, values)
        return event, await _pet_after(conn, event)


# The statements are built once, with the values as parameters: SQLAlchemy
# keeps a statement's cache key with it, so each append finds the compiled
# SQL (and asyncpg its prepared statement) without building a new statement
# and hashing it first. The INSERT's columns are the keys of the values.
_INSERTS: dict[str, Insert] = {
    event_type: insert(table).returning(*as_read(table))
    for event_type, table in EVENT_TABLES.items()
}
_PET = select(pets).where(pets.c.id == bindparam("pet_id"))


async def _insert(conn: AsyncConnection, event_type: str, values: Mapping[str, Any]) -> RowMapping:
    try:
        result = await conn.execute(_INSERTS[event_type], {"event_type": event_type, **values})
        return result.mappings().one()
    except DBAPIError as exc:
        error = domain_error(exc)
        if error is None:
            raise
        raise error from exc


async def _pet_after(conn: AsyncConnection, event: RowMapping) -> RowMapping:
    pet: RowMapping | None = (
        (await conn.execute(_PET, {"pet_id": event["pet_id"]})).mappings().one()
    )
    if pet is not None and pet["version"] != event["pet_version"]:
        pet = await pet_at_version(conn, event["pet_id"], event["pet_version"])
    assert pet is not None, "an applied event always leaves its pet"
    return pet


async def _append_once(
    engine: AsyncEngine, event_type: str, values: Mapping[str, Any], once: Idempotency
) -> tuple[RowMapping, RowMapping]:
    # The key and the event commit together. A second attempt with the key
    # waits on the key's primary key until the first commits (then finds it)
    # or rolls back (then stores its own event).
    claim = (
        pg_insert(idempotency_keys)
        .values(key=once.key, fingerprint=once.fingerprint, event_id=values["id"])
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(idempotency_keys.c.key)
    )
    async with engine.connect() as autocommit:
        conn = await autocommit.execution_options(isolation_level="READ COMMITTED")
        async with conn.begin():
            event = None
            if (await conn.execute(claim)).first() is not None:
                event = await _insert(conn, event_type, values)
        if event is not None:
            return event, await _pet_after(conn, event)
        return await _replay(conn, once)


async def _replay(conn: AsyncConnection, once: Idempotency) -> tuple[RowMapping, RowMapping]:
    stored = (
        (await conn.execute(select(idempotency_keys).where(idempotency_keys.c.key == once.key)))
        .mappings()
        .one()
    )
    if stored["fingerprint"] != once.fingerprint:
        raise DomainError(
            "IDEMPOTENCY_KEY_REUSED",
            "this idempotencyKey was used for a different request",
            "idempotency_key",
        )
    [event] = await events_by_id(conn, [stored["event_id"]])
    pet = await pet_at_version(conn, event["pet_id"], event["pet_version"])
    assert pet is not None, "an applied event always leaves its pet"
    return event, pet


def new_id() -> uuid.UUID:
    """A UUIDv7 made by the server (design §2)."""
    import uuid6

    return uuid.UUID(bytes=uuid6.uuid7().bytes)
