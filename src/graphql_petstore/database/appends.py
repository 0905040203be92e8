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
from typing import Any

from sqlalchemy import Text, cast, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from graphql_petstore.database.reads import pet_at_version
from graphql_petstore.database.rejections import domain_error
from graphql_petstore.database.tables import EVENT_TABLES, pets


async def append_event(
    engine: AsyncEngine, event_type: str, values: Mapping[str, Any]
) -> tuple[RowMapping, RowMapping]:
    """Stores one event; returns (the stored event, the pet right after it).

    Raises DomainError when a rule of the database refuses the event.
    """
    table = EVENT_TABLES[event_type]
    statement = (
        insert(table)
        .values(event_type=event_type, **values)
        .returning(*(cast(c, Text) if c.name == "tx_id" else c for c in table.c))
    )
    async with engine.connect() as conn:
        try:
            event = (await conn.execute(statement)).mappings().one()
        except DBAPIError as exc:
            error = domain_error(exc)
            if error is None:
                raise
            raise error from exc
        pet: RowMapping | None = (
            (await conn.execute(select(pets).where(pets.c.id == event["pet_id"]))).mappings().one()
        )
        if pet is not None and pet["version"] != event["pet_version"]:
            pet = await pet_at_version(conn, event["pet_id"], event["pet_version"])
    assert pet is not None, "an applied event always leaves its pet"
    return event, pet


def new_id() -> uuid.UUID:
    """A UUIDv7 made by the server (design §2)."""
    import uuid6

    return uuid.UUID(bytes=uuid6.uuid7().bytes)
