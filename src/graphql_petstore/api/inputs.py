"""The input types of the six mutations and of the query filters."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import strawberry
from strawberry.scalars import JSON

from graphql_petstore.api.types import EventType, PetStatus

_METADATA = "A JSON object stored with the event; the server adds actor and requestId."
_IDEMPOTENCY_KEY = (
    "Retrying with the same key returns the event the first attempt stored, and "
    "stores nothing; the same key with a different input is IDEMPOTENCY_KEY_REUSED."
)
_CORRELATION = "The conversation or workflow this command belongs to; stored in metadata."
_CAUSATION = "The message (e.g. an event id) that caused this command; stored in metadata."
_EXPECTED_VERSION = (
    "Refuse the event with VERSION_CONFLICT unless the pet is at this version "
    "(0: the pet must not exist yet)."
)


@strawberry.input(description="What every mutation input may carry besides its event's fields.")
class CommandOptions:
    metadata: JSON | None = strawberry.field(default=None, description=_METADATA)
    expected_version: int | None = strawberry.field(default=None, description=_EXPECTED_VERSION)
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY_KEY)
    correlation_id: uuid.UUID | None = strawberry.field(default=None, description=_CORRELATION)
    causation_id: uuid.UUID | None = strawberry.field(default=None, description=_CAUSATION)


@strawberry.input
class RecordPetArrivalInput(CommandOptions):
    pet_id: uuid.UUID | None = strawberry.field(
        default=None, description="Leave out to have the server make a UUIDv7."
    )
    name: str
    species: str
    price: Decimal


@strawberry.input
class RecordPetBirthInput(CommandOptions):
    pet_id: uuid.UUID | None = strawberry.field(
        default=None, description="Leave out to have the server make a UUIDv7."
    )
    mother_id: uuid.UUID
    name: str
    species: str | None = strawberry.field(default=None, description="Default: the mother's.")
    price: Decimal


@strawberry.input
class SellPetInput(CommandOptions):
    pet_id: uuid.UUID
    customer_id: uuid.UUID
    sale_price: Decimal


@strawberry.input
class ChangePetPriceInput(CommandOptions):
    pet_id: uuid.UUID
    new_price: Decimal
    old_price: Decimal | None = strawberry.field(
        default=None, description="When given, the change is refused unless it is the price now."
    )


@strawberry.input
class ReportPetLostInput(CommandOptions):
    pet_id: uuid.UUID
    lost_date: date | None = strawberry.field(default=None, description="Default: today.")
    last_seen_location: str | None = None


@strawberry.input
class ReportPetFoundInput(CommandOptions):
    pet_id: uuid.UUID
    found_date: date | None = strawberry.field(default=None, description="Default: today.")
    found_location: str | None = None


@strawberry.input
class PetFilter:
    status: list[PetStatus] | None = None
    species: str | None = None
    mother_id: uuid.UUID | None = None


@strawberry.input
class EventFilter:
    pet_id: uuid.UUID | None = None
    types: list[EventType] | None = None
    since: datetime | None = None
    until: datetime | None = None
