"""The GraphQL types: pets, the six events, connections and errors."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

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


# Resolvers take the context as `info.context` (a Context; typed where used,
# since Context imports the loaders, which import these types).
Info = strawberry.Info[Any, None]


@strawberry.enum(description="Where a pet is: in the store, sold, or missing.")
class PetStatus(enum.Enum):
    AVAILABLE = "AVAILABLE"
    SOLD = "SOLD"
    LOST = "LOST"


@strawberry.enum(description="The six kinds of event.")
class EventType(enum.Enum):
    PET_ARRIVED = "PET_ARRIVED"
    PET_BORN = "PET_BORN"
    PET_SOLD = "PET_SOLD"
    PET_PRICE_CHANGE = "PET_PRICE_CHANGE"
    PET_LOST = "PET_LOST"
    PET_FOUND_AGAIN = "PET_FOUND_AGAIN"


@strawberry.enum(description="Why a mutation stored nothing.")
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
    code: ErrorCode
    message: str
    field: list[str] | None = strawberry.field(
        default=None, description="Path of the input field at fault, e.g. [input, price]."
    )
    actual_version: int | None = strawberry.field(
        default=None, description="With VERSION_CONFLICT: the version the pet is at."
    )


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="A pet as its events have left it (the read model).")
class Pet:
    id: uuid.UUID
    name: str
    species: str
    price: Decimal
    status: PetStatus
    customer_id: uuid.UUID | None
    mother_id: uuid.UUID | None
    version: int = strawberry.field(description="Number of events applied to this pet.")
    last_event_id: uuid.UUID
    created_at: datetime
    updated_at: datetime

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

    @strawberry.field
    async def mother(self, info: Info) -> Pet | None:
        if self.mother_id is None:
            return None
        context: Context = info.context
        return await load(context.loaders.pet, self.mother_id)

    @strawberry.field
    async def offspring(self, info: Info) -> list[Pet]:
        context: Context = info.context
        return await load(context.loaders.offspring, self.id)

    @strawberry.field(description="This pet's events, oldest first.")
    async def history(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
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


@strawberry.interface(description="Something that happened to a pet.")
class PetEvent:
    id: uuid.UUID
    type: EventType
    pet_id: uuid.UUID
    created_at: datetime
    metadata: JSON
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

    @strawberry.field(description="The name of the API token that recorded it (metadata.actor).")
    def actor(self) -> str | None:
        return _text(self.metadata, "actor")

    @strawberry.field(description="The request that recorded it (metadata.requestId).")
    def request_id(self) -> str | None:
        return _text(self.metadata, "requestId")

    @strawberry.field(description="metadata.correlationId, as given with the command.")
    def correlation_id(self) -> uuid.UUID | None:
        return _uuid(self.metadata, "correlationId")

    @strawberry.field(description="metadata.causationId, as given with the command.")
    def causation_id(self) -> uuid.UUID | None:
        return _uuid(self.metadata, "causationId")

    @strawberry.field(description="The pet as it is now.")
    async def pet(self, info: Info) -> Pet | None:
        context: Context = info.context
        return await load(context.loaders.pet, self.pet_id)


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


@strawberry.type
class PetArrived(PetEvent):
    name: str
    species: str
    price: Decimal


@strawberry.type
class PetBorn(PetEvent):
    name: str
    species: str
    price: Decimal
    mother_id: uuid.UUID


@strawberry.type
class PetSold(PetEvent):
    customer_id: uuid.UUID
    sale_price: Decimal


@strawberry.type
class PetPriceChange(PetEvent):
    old_price: Decimal
    new_price: Decimal


@strawberry.type
class PetLost(PetEvent):
    lost_date: date
    last_seen_location: str | None


@strawberry.type
class PetFoundAgain(PetEvent):
    found_date: date
    found_location: str | None


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
        metadata=stored_json(metadata) if isinstance(metadata, str) else metadata,
        pet_version=row["pet_version"],
        position=StreamPosition(int(row["tx_id"]), row["seq"]),
        **payload,
    )


@strawberry.type
class PetEdge:
    node: Pet

    # Made only when asked for: most pages never read an edge's cursor.
    @strawberry.field
    def cursor(self) -> str:
        return cursors.pet_cursor(self.node.id)


@strawberry.type
class PetConnection:
    edges: list[PetEdge]
    page_info: PageInfo

    @strawberry.field(description="The pets of this page, without their edges.")
    def nodes(self) -> list[Pet]:
        return [edge.node for edge in self.edges]


@strawberry.type
class PetEventEdge:
    cursor: str
    node: PetEvent


@strawberry.type
class PetEventConnection:
    edges: list[PetEventEdge]
    page_info: PageInfo

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
    event: PetEvent | None = None
    pet: Pet | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
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
