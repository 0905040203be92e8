"""The reads behind the queries: keyset pages and batched loads.

Every function here takes a list of keys or one page request and issues one
statement, so that the GraphQL layer's DataLoaders keep the number of
statements per request fixed, however many pets a page holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, cast, func, literal, select, text, tuple_
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from graphql_petstore.database.tables import XID8, as_read, pet_event_log, pets

_EVENT_COLUMNS = as_read(pet_event_log)


@dataclass(frozen=True, order=True)
class StreamPosition:
    """A place in the commit-safe event stream: (transaction id, sequence)."""

    tx_id: int
    seq: int


@dataclass(frozen=True)
class PetFilter:
    statuses: Sequence[str] | None = None
    species: str | None = None
    mother_id: uuid.UUID | None = None


@dataclass(frozen=True)
class EventFilter:
    pet_id: uuid.UUID | None = None
    types: Sequence[str] | None = None
    since: datetime | None = None
    until: datetime | None = None


async def pets_page(
    conn: AsyncConnection, where: PetFilter, first: int, after: uuid.UUID | None
) -> list[RowMapping]:
    """Up to first + 1 pets in id order after `after` (the extra row tells
    whether there is a next page)."""
    statement = select(pets).order_by(pets.c.id).limit(first + 1)
    if where.statuses:
        statement = statement.where(pets.c.status.in_(where.statuses))
    if where.species is not None:
        statement = statement.where(pets.c.species == where.species)
    if where.mother_id is not None:
        statement = statement.where(pets.c.mother_id == where.mother_id)
    if after is not None:
        statement = statement.where(pets.c.id > after)
    return list((await conn.execute(statement)).mappings())


async def pets_by_id(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[RowMapping]:
    statement = select(pets).where(pets.c.id.in_(ids))
    return list((await conn.execute(statement)).mappings())


async def offspring(conn: AsyncConnection, mother_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
    statement = (
        select(pets).where(pets.c.mother_id.in_(mother_ids)).order_by(pets.c.mother_id, pets.c.id)
    )
    return list((await conn.execute(statement)).mappings())


async def histories(
    conn: AsyncConnection, pet_ids: Sequence[uuid.UUID], first: int, after_version: int
) -> list[RowMapping]:
    """For each pet, up to first + 1 of its events after `after_version`, in
    version order."""
    ranked = (
        select(
            *_EVENT_COLUMNS,
            func.row_number()
            .over(partition_by=pet_event_log.c.pet_id, order_by=pet_event_log.c.pet_version)
            .label("rank"),
        )
        .where(pet_event_log.c.pet_id.in_(pet_ids), pet_event_log.c.pet_version > after_version)
        .subquery()
    )
    statement = (
        select(ranked)
        .where(ranked.c.rank <= first + 1)
        .order_by(ranked.c.pet_id, ranked.c.pet_version)
    )
    return list((await conn.execute(statement)).mappings())


async def events_by_id(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[RowMapping]:
    statement = select(*_EVENT_COLUMNS).where(pet_event_log.c.id.in_(ids))
    return list((await conn.execute(statement)).mappings())


# Only events of transactions that have finished are read: every transaction
# below the snapshot's xmin has committed or rolled back, so no event can
# later appear before a position that a reader has passed (design §4).
_BELOW_HORIZON = text("tx_id < pg_snapshot_xmin(pg_current_snapshot())")


async def events_page(
    conn: AsyncConnection, where: EventFilter, first: int, after: StreamPosition | None
) -> list[RowMapping]:
    """Up to first + 1 events in stream order after `after`."""
    statement: Select[Any] = (
        select(*_EVENT_COLUMNS)
        .where(_BELOW_HORIZON)
        .order_by(pet_event_log.c.tx_id, pet_event_log.c.seq)
        .limit(first + 1)
    )
    if after is not None:
        tx = cast(literal(str(after.tx_id), Text), XID8)
        # A row comparison, so that the (tx_id, seq) index serves it.
        statement = statement.where(
            tuple_(pet_event_log.c.tx_id, pet_event_log.c.seq) > tuple_(tx, after.seq)
        )
    if where.pet_id is not None:
        statement = statement.where(pet_event_log.c.pet_id == where.pet_id)
    if where.types:
        statement = statement.where(pet_event_log.c.event_type.in_(where.types))
    if where.since is not None:
        statement = statement.where(pet_event_log.c.created_at >= where.since)
    if where.until is not None:
        statement = statement.where(pet_event_log.c.created_at <= where.until)
    return list((await conn.execute(statement)).mappings())


async def pet_as_of(conn: AsyncConnection, pet_id: uuid.UUID, as_of: datetime) -> RowMapping | None:
    """The pet as its events up to `as_of` left it; None before its first event."""
    return await _fold(conn, pet_id, "e.created_at <= :bound", as_of)


async def pet_at_version(
    conn: AsyncConnection, pet_id: uuid.UUID, version: int
) -> RowMapping | None:
    """The pet as its first `version` events left it."""
    return await _fold(conn, pet_id, "e.pet_version <= :bound", version)


async def _fold(
    conn: AsyncConnection, pet_id: uuid.UUID, bound: str, value: object
) -> RowMapping | None:
    # The same pet_fold() that the triggers apply, over a prefix of the history.
    statement = text(
        f"""
        select (state).* from (
            select pet_fold_all(e order by e.pet_version) as state
            from pet_event_log e
            where e.pet_id = :pet_id and {bound}
        ) folded
        """
    ).columns(*pets.c)
    row = (await conn.execute(statement, {"pet_id": pet_id, "bound": value})).mappings().one()
    return None if row["id"] is None else row
