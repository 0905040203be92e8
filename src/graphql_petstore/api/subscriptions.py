"""The subscriptions: live pet changes and the gap-free event stream.

Both follow the process's EventStream (graphql_petstore.database.stream), which
reads the tables in commit-safe order; the doorbell only wakes it. They read it
through `follow`, so that subscriptions that share one execution (the
graphql_petstore.sharing package) can tell where their group has got to.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy.engine import RowMapping

from graphql_petstore.api import cursors
from graphql_petstore.api.inputs import EventFilter
from graphql_petstore.api.queries import require_zone
from graphql_petstore.api.types import Info, Pet, PetEvent, PetStatus, event_from_row
from graphql_petstore.sharing.feeds import LIVE, follow

if TYPE_CHECKING:
    from graphql_petstore.api.context import Context


@strawberry.type(description="An event and the pet as that event left it.")
class PetChange:
    pet: Pet = strawberry.field(description="The pet right after the event.")
    event: PetEvent = strawberry.field(description="What happened to it.")


def _matches(row: RowMapping, where: EventFilter | None, types: frozenset[str]) -> bool:
    if where is None:
        return True
    if where.pet_id is not None and row["pet_id"] != where.pet_id:
        return False
    if types and row["event_type"] not in types:
        return False
    if where.since is not None and row["created_at"] < where.since:
        return False
    return not (where.until is not None and row["created_at"] > where.until)


@strawberry.type(
    description="Live changes over a WebSocket (graphql-transport-ws or graphql-ws) on /graphql."
)
class Subscription:
    @strawberry.subscription(
        description="Every change of a pet from now on: of one pet (id), or of pets whose "
        "status after the change is one of `status`."
    )
    async def pet_changed(
        self,
        info: Info,
        id: Annotated[
            uuid.UUID | None, strawberry.argument(description="Only the changes of this pet.")
        ] = None,
        status: Annotated[
            list[PetStatus] | None,
            strawberry.argument(description="Only changes that leave a pet in one of these."),
        ] = None,
    ) -> AsyncGenerator[PetChange, None]:
        context: Context = info.context
        statuses = {s.value for s in status} if status else None
        async for row in follow(context, LIVE):
            if id is not None and row["pet_id"] != id:
                continue
            state = await context.stream.pet_after(row)
            if state is None or (statuses and state["status"] not in statuses):
                continue
            context.reset_loaders()
            change = PetChange(pet=Pet.from_row(state), event=event_from_row(row))
            yield change
            # Executed by now; graphql-core keeps the item it last mapped until
            # the next one comes: not its content, nor the rows, while the pet
            # is quiet (a process may follow tens of thousands of pets).
            change.pet = change.event = None  # type: ignore[assignment]
            del row, state, change

    @strawberry.subscription(
        description="Events in stream order: those after `after` (any event's cursor, or "
        '"0" for the very beginning), then live. Without `after`, new events only.'
    )
    async def events(
        self,
        info: Info,
        after: Annotated[
            str | None,
            strawberry.argument(
                description='Resume after the event with this cursor ("0": from the '
                "beginning); left out, new events only."
            ),
        ] = None,
        filter: Annotated[
            EventFilter | None, strawberry.argument(description="Only the events that match.")
        ] = None,
    ) -> AsyncGenerator[PetEvent, None]:
        context: Context = info.context
        if filter is not None:
            require_zone("since", filter.since)
            require_zone("until", filter.until)
        # Decided once per subscription, not once per event.
        types = frozenset(t.value for t in filter.types) if filter and filter.types else frozenset()
        start = cursors.parse_stream_cursor(after) if after is not None else LIVE
        async for row in follow(context, start):
            if _matches(row, filter, types):
                context.reset_loaders()
                yield event_from_row(row)
            del row
