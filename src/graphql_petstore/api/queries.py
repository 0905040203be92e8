"""The queries: pets and events, as keyset-paginated connections."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from graphql import GraphQLError

from graphql_petstore.api import cursors
from graphql_petstore.api.inputs import EventFilter, PetFilter
from graphql_petstore.api.shielded_loads import load
from graphql_petstore.api.types import (
    AFTER,
    FIRST,
    Info,
    PageInfo,
    Pet,
    PetConnection,
    PetEdge,
    PetEvent,
    PetEventConnection,
    event_from_row,
)
from graphql_petstore.database import reads

if TYPE_CHECKING:
    from graphql_petstore.api.context import Context


def require_zone(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise GraphQLError(
            f"{name} must include a time zone, e.g. 2026-01-31T12:00:00Z",
            extensions={"code": "BAD_USER_INPUT"},
        )


@strawberry.type(description="What can be read: pets, events, and a pet as it was at any instant.")
class Query:
    @strawberry.field(description="One pet; with asOf, as it was at that instant.")
    async def pet(
        self,
        info: Info,
        id: Annotated[uuid.UUID, strawberry.argument(description="The pet's id.")],
        as_of: Annotated[
            datetime | None,
            strawberry.argument(
                description="An instant (with a zone): the pet as its events up to then left "
                "it; null if it did not exist yet."
            ),
        ] = None,
    ) -> Pet | None:
        context: Context = info.context
        if as_of is None:
            return await load(context.loaders.pet, id)
        require_zone("asOf", as_of)
        # The primary's (api/read_routing.py routes documents with asOf there).
        row = await context.read(lambda conn: reads.pet_as_of(conn, id, as_of))
        return None if row is None else Pet.from_row(row)

    @strawberry.field(description="The shop's pets, a page at a time, in id order.")
    async def pets(
        self,
        info: Info,
        filter: Annotated[
            PetFilter | None, strawberry.argument(description="Only the pets that match.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> PetConnection:
        context: Context = info.context
        size = context.page_size(first)
        after_id = cursors.parse_pet_cursor(after) if after is not None else None
        where = reads.PetFilter(
            statuses=[s.value for s in filter.status] if filter and filter.status else None,
            species=filter.species if filter else None,
            mother_id=filter.mother_id if filter else None,
        )
        rows = await context.read(lambda conn: reads.pets_page(conn, where, size, after_id))
        pets = [Pet.from_row(row) for row in rows[:size]]
        context.loaders.pet.prime_many({pet.id: pet for pet in pets})
        return PetConnection(
            edges=[PetEdge(node=pet) for pet in pets],
            page_info=PageInfo(
                has_next_page=len(rows) > size,
                has_previous_page=after_id is not None,
                start_cursor=cursors.pet_cursor(pets[0].id) if pets else None,
                end_cursor=cursors.pet_cursor(pets[-1].id) if pets else None,
            ),
        )

    @strawberry.field(description="One event, by its id.")
    async def event(
        self,
        info: Info,
        id: Annotated[uuid.UUID, strawberry.argument(description="The event's id.")],
    ) -> PetEvent | None:
        context: Context = info.context
        rows = await context.read(lambda conn: reads.events_by_id(conn, [id]))
        return event_from_row(rows[0]) if rows else None

    @strawberry.field(
        description="Events in stream order: the order in which they became visible. "
        'Resume from any event\'s cursor; after: "0" starts from the very beginning.'
    )
    async def events(
        self,
        info: Info,
        filter: Annotated[
            EventFilter | None, strawberry.argument(description="Only the events that match.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = None,
        after: Annotated[
            str | None,
            strawberry.argument(
                description='Start after the event with this cursor; "0" for the beginning.'
            ),
        ] = None,
    ) -> PetEventConnection:
        context: Context = info.context
        size = context.page_size(first)
        position = cursors.parse_stream_cursor(after) if after is not None else None
        if filter is not None:
            require_zone("since", filter.since)
            require_zone("until", filter.until)
        where = reads.EventFilter(
            pet_id=filter.pet_id if filter else None,
            types=[t.value for t in filter.types] if filter and filter.types else None,
            since=filter.since if filter else None,
            until=filter.until if filter else None,
        )
        rows = await context.read(lambda conn: reads.events_page(conn, where, size, position))
        events = [event_from_row(row) for row in rows[:size]]
        return PetEventConnection.of(
            events, has_next=len(rows) > size, has_previous=position is not None
        )
