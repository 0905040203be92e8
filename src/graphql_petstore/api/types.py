"""The GraphQL types: pets, the six events, connections and errors."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Protocol

import strawberry
from strawberry.scalars import JSON

from graphql_petstore.api import cursors
from graphql_petstore.api.shielded_loads import load
from graphql_petstore.database.reads import StreamPosition
from graphql_petstore.json_output import stored_json

if TYPE_CHECKING:
    from graphql_petstore.api.context import Context


class Row(Protocol):
    """A row by column name: SQLAlchemy's RowMapping or an asyncpg Record."""

    def __getitem__(self, key: str, /) -> Any: ...


FIRST = "How many items the page holds (default 50, at most PETSTORE_MAX_PAGE_SIZE)."
AFTER = "Start after the item with this cursor (from a page's endCursor or an edge)."

# Resolvers take the context as `info.context` (a Context; typed where used,
# since Context imports the loaders, which import these types).
Info = strawberry.Info[Any, None]


@strawberry.enum(description="Where a pet is: in the store, sold, or missing.")
class PetStatus(enum.Enum):
    AVAILABLE = "AVAILABLE"
    SOLD = "SOLD"
    LOST = "LOST"


@strawberry.enum(description="The six kinds of event that make up a pet's history.")
class EventType(enum.Enum):
    PET_ARRIVED = "PET_ARRIVED"
    PET_BORN = "PET_BORN"
    PET_SOLD = "PET_SOLD"
    PET_PRICE_CHANGE = "PET_PRICE_CHANGE"
    PET_LOST = "PET_LOST"
    PET_FOUND_AGAIN = "PET_FOUND_AGAIN"


@strawberry.enum(description="Why a mutation stored nothing (see UserError).")
class ErrorCode(enum.Enum):
    VALIDATION_FAILED = "VALIDATION_FAILED"
    PET_NOT_FOUND = "PET_NOT_FOUND"
    PET_ALREADY_EXISTS = "PET_ALREADY_EXISTS"
    MOTHER_NOT_FOUND = "MOTHER_NOT_FOUND"
    MOTHER_NOT_IN_STORE = "MOTHER_NOT_IN_STORE"
    SPECIES_MISMATCH = "SPECIES_MISMATCH"
    PET_NOT_AVAILABLE = "PET_NOT_AVAILABLE"
    PET_ALREADY_SOLD = "PET_ALREADY_SOLD"
    PET_NOT_LOST = "PET_NOT_LOST"
    OLD_PRICE_MISMATCH = "OLD_PRICE_MISMATCH"
    FOUND_BEFORE_LOST = "FOUND_BEFORE_LOST"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"


@strawberry.type(description="An expected reason why a mutation stored nothing.")
class UserError:
    code: ErrorCode = strawberry.field(description="What went wrong, for programs to branch on.")
    message: str = strawberry.field(description="What went wrong, in words for people.")
    field: list[str] | None = strawberry.field(
        default=None, description="Path of the input field at fault, e.g. [input, price]."
    )
    actual_version: int | None = strawberry.field(
        default=None, description="With VERSION_CONFLICT: the version the pet is at."
    )


@strawberry.type(description="Where a page of a list stands (Relay's cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="More items follow: ask again with after: endCursor."
    )
    has_previous_page: bool = strawberry.field(
        description="This page was asked for with after:, so items come before it."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the page's first item; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="The cursor of the page's last item: pass it as after: for the next page."
    )


@strawberry.type(description="A pet of the shop, as its events have left it (the read model).")
class Pet:
    id: uuid.UUID = strawberry.field(description="The pet's id, a UUIDv7, for good.")
    name: str = strawberry.field(description="The pet's name, as it arrived or was born.")
    species: str = strawberry.field(description='What kind of animal it is, e.g. "Cat".')
    price: Decimal = strawberry.field(
        description="What the pet costs now (or what it sold for), with two decimals."
    )
    status: PetStatus = strawberry.field(description="In the store, sold or lost.")
    customer_id: uuid.UUID | None = strawberry.field(
        description="Who bought the pet; null until it is sold."
    )
    mother_id: uuid.UUID | None = strawberry.field(
        description="The mother's id, for a pet born in the store; null for an arrival."
    )
    version: int = strawberry.field(
        description="How many events the pet has had: the version expectedVersion refers to."
    )
    last_event_id: uuid.UUID = strawberry.field(description="The id of the pet's latest event.")
    created_at: datetime = strawberry.field(
        description="When the pet arrived or was born (its first event)."
    )
    updated_at: datetime = strawberry.field(description="When the pet's latest event happened.")

    @classmethod
    def from_row(cls, row: Row) -> Pet:
        return cls(
            id=row["id"],
            name=row["name"],
            species=row["species"],
            price=row["current_price"],
            status=PetStatus(row["status"]),
            customer_id=row["customer_id"],
            mother_id=row["mother_id"],
            version=row["version"],
            last_event_id=row["last_event_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    @strawberry.field(description="The mother, for a pet born in the store.")
    async def mother(self, info: Info) -> Pet | None:
        if self.mother_id is None:
            return None
        context: Context = info.context
        return await load(context.loaders.pet, self.mother_id)

    @strawberry.field(description="The pets born to this one in the store, oldest first.")
    async def offspring(self, info: Info) -> list[Pet]:
        context: Context = info.context
        return await load(context.loaders.offspring, self.id)

    @strawberry.field(description="This pet's events, oldest first.")
    async def history(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description=FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> PetEventConnection:
        context: Context = info.context
        size = context.page_size(first)
        after_version = cursors.parse_version_cursor(after) if after is not None else 0
        rows = await load(context.loaders.history, (self.id, size, after_version))
        events = [event_from_row(row) for row in rows]
        return PetEventConnection.of(
            events[:size],
            has_next=len(events) > size,
            has_previous=after_version > 0,
            cursor_of=lambda e: cursors.version_cursor(e.pet_version),
        )


@strawberry.interface(description="Something that happened to a pet: one entry of its history.")
class PetEvent:
    id: uuid.UUID = strawberry.field(description="The event's id, a UUIDv7.")
    type: EventType = strawberry.field(description="Which of the six kinds of event this is.")
    pet_id: uuid.UUID = strawberry.field(description="The pet it happened to.")
    created_at: datetime = strawberry.field(
        description="When it was recorded; a pet's events are in time order."
    )
    stored_metadata: strawberry.Private[Any]
    pet_version: int = strawberry.field(description="The pet's version right after this event.")
    position: strawberry.Private[StreamPosition]

    @classmethod
    def resolve_type(cls, obj: Any, info: Any, abstract_type: Any) -> str | None:
        # Every event is built as one of the six concrete classes, so its
        # class names its type; strawberry's default would first search for a
        # strawberry.cast and for generics on every event. None (not an event
        # class) makes graphql-core report the value as unresolvable.
        definition = getattr(type(obj), "__strawberry_definition__", None)
        return None if definition is None or definition.is_interface else definition.name

    @strawberry.field(
        description="This event's place in the event stream: resume events(after:) from it."
    )
    def cursor(self) -> str:
        return cursors.stream_cursor(self.position)

    @strawberry.field(
        description="The JSON object stored with the event: the client's own, with the "
        "server's actor and requestId. Null for a caller without a token (audit field)."
    )
    def metadata(self, info: Info) -> JSON | None:
        return self.stored_metadata if _reads_audit(info) else None

    @strawberry.field(
        description="The name of the API token that recorded it (metadata.actor). "
        "Null for a caller without a token (audit field)."
    )
    def actor(self, info: Info) -> str | None:
        return _text(self.stored_metadata, "actor") if _reads_audit(info) else None

    @strawberry.field(
        description="The request that recorded it (metadata.requestId): the server's id "
        "of that request. Null for a caller without a token (audit field)."
    )
    def request_id(self, info: Info) -> str | None:
        return _text(self.stored_metadata, "requestId") if _reads_audit(info) else None

    @strawberry.field(description="The metadata's correlationId, as given with the command.")
    def correlation_id(self) -> uuid.UUID | None:
        return _uuid(self.stored_metadata, "correlationId")

    @strawberry.field(description="The metadata's causationId, as given with the command.")
    def causation_id(self) -> uuid.UUID | None:
        return _uuid(self.stored_metadata, "causationId")

    @strawberry.field(description="The pet as it is now.")
    async def pet(self, info: Info) -> Pet | None:
        context: Context = info.context
        return await load(context.loaders.pet, self.pet_id)


def _reads_audit(info: Info) -> bool:
    return bool(getattr(info.context, "reads_audit", False))


def _text(metadata: Any, key: str) -> str | None:
    value = metadata.get(key) if isinstance(metadata, dict) else None
    return value if isinstance(value, str) else None


def _uuid(metadata: Any, key: str) -> uuid.UUID | None:
    # Hand-written events may carry anything in metadata: only a UUID counts.
    value = _text(metadata, key)
    try:
        return None if value is None else uuid.UUID(value)
    except ValueError:
        return None


@strawberry.type(description="A pet came into the store, for sale at a price.")
class PetArrived(PetEvent):
    name: str = strawberry.field(description="The pet's name.")
    species: str = strawberry.field(description="What kind of animal it is.")
    price: Decimal = strawberry.field(description="The price it was put on sale at.")


@strawberry.type(description="A pet was born in the store to a mother of the same species.")
class PetBorn(PetEvent):
    name: str = strawberry.field(description="The newborn's name.")
    species: str = strawberry.field(description="Its species, the mother's.")
    price: Decimal = strawberry.field(description="The price it was put on sale at.")
    mother_id: uuid.UUID = strawberry.field(description="The mother, a pet in the store.")


@strawberry.type(description="A pet in the store was sold to a customer.")
class PetSold(PetEvent):
    customer_id: uuid.UUID = strawberry.field(description="Who bought it.")
    sale_price: Decimal = strawberry.field(description="What it sold for.")


@strawberry.type(description="The price of a pet that is not sold changed.")
class PetPriceChange(PetEvent):
    old_price: Decimal = strawberry.field(description="The price before the change.")
    new_price: Decimal = strawberry.field(description="The price from then on.")


@strawberry.type(description="A pet in the store went missing.")
class PetLost(PetEvent):
    lost_date: date = strawberry.field(description="The day it went missing.")
    last_seen_location: str | None = strawberry.field(
        description="Where it was last seen, if anyone knows."
    )


@strawberry.type(description="A lost pet was found again and is back in the store.")
class PetFoundAgain(PetEvent):
    found_date: date = strawberry.field(description="The day it was found.")
    found_location: str | None = strawberry.field(description="Where it was found.")


EVENT_CLASSES: dict[str, tuple[type[PetEvent], tuple[str, ...]]] = {
    "PET_ARRIVED": (PetArrived, ("name", "species", "price")),
    "PET_BORN": (PetBorn, ("name", "species", "price", "mother_id")),
    "PET_SOLD": (PetSold, ("customer_id", "sale_price")),
    "PET_PRICE_CHANGE": (PetPriceChange, ("old_price", "new_price")),
    "PET_LOST": (PetLost, ("lost_date", "last_seen_location")),
    "PET_FOUND_AGAIN": (PetFoundAgain, ("found_date", "found_location")),
}


def event_from_row(row: Row) -> PetEvent:
    """The concrete event type for a row of an event table or of pet_event_log."""
    cls, fields = EVENT_CLASSES[row["event_type"]]
    payload: dict[str, Any] = {name: row[name] for name in fields}
    metadata = row["metadata"]
    return cls(
        id=row["id"],
        type=EventType(row["event_type"]),
        pet_id=row["pet_id"],
        created_at=row["created_at"],
        # A composite column (an append's result) arrives as jsonb's text.
        stored_metadata=stored_json(metadata) if isinstance(metadata, str) else metadata,
        pet_version=row["pet_version"],
        position=StreamPosition(int(row["tx_id"]), row["seq"]),
        **payload,
    )


@strawberry.type(description="A pet on a page, with its cursor.")
class PetEdge:
    node: Pet = strawberry.field(description="The pet.")

    # Made only when asked for: most pages never read an edge's cursor.
    @strawberry.field(description="Pass it as after: to go on after this pet.")
    def cursor(self) -> str:
        return cursors.pet_cursor(self.node.id)


@strawberry.type(description="A page of pets, in id order.")
class PetConnection:
    edges: list[PetEdge] = strawberry.field(description="The pets of this page, with cursors.")
    page_info: PageInfo = strawberry.field(description="Where this page stands.")

    @strawberry.field(description="The pets of this page, without their edges.")
    def nodes(self) -> list[Pet]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="An event on a page, with its cursor.")
class PetEventEdge:
    cursor: str = strawberry.field(description="Pass it as after: to go on after this event.")
    node: PetEvent = strawberry.field(description="The event.")


@strawberry.type(description="A page of events.")
class PetEventConnection:
    edges: list[PetEventEdge] = strawberry.field(
        description="The events of this page, with cursors."
    )
    page_info: PageInfo = strawberry.field(description="Where this page stands.")

    @strawberry.field(description="The events of this page, without their edges.")
    def nodes(self) -> list[PetEvent]:
        return [edge.node for edge in self.edges]

    @classmethod
    def of(
        cls,
        events: list[PetEvent],
        *,
        has_next: bool,
        has_previous: bool,
        cursor_of: Any = None,
    ) -> PetEventConnection:
        cursor_of = cursor_of or (lambda e: cursors.stream_cursor(e.position))
        edges = [PetEventEdge(cursor=cursor_of(e), node=e) for e in events]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next,
                has_previous_page=has_previous,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )


@strawberry.type(description="What a mutation did: the stored event and the pet right after it.")
class PetEventPayload:
    event: PetEvent | None = strawberry.field(
        default=None, description="The event stored; null when userErrors says why not."
    )
    pet: Pet | None = strawberry.field(
        default=None, description="The pet as this event left it; null when nothing was stored."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Why nothing was stored, when a rule refused the event; empty otherwise.",
    )
    consistency_token: str | None = strawberry.field(
        default=None,
        description="Present it in a later request's Petstore-Consistency-Token header to read "
        "this write: a replica answers only once it has the write, else the primary does. "
        "Opaque. Null when nothing was stored.",
    )


ALL_EVENT_TYPES: list[type] = [cls for cls, _ in EVENT_CLASSES.values()]

__all__ = [
    "ALL_EVENT_TYPES",
    "ErrorCode",
    "EventType",
    "Pet",
    "PetConnection",
    "PetEvent",
    "PetEventConnection",
    "PetEventPayload",
    "PetStatus",
    "UserError",
    "event_from_row",
]
