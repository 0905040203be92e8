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
_PRICE = 'A price of 0 or more, with at most two decimals, as a string (e.g. "120.00").'
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


@strawberry.input(description="A pet arrives at the store.")
class RecordPetArrivalInput(CommandOptions):
    pet_id: uuid.UUID | None = strawberry.field(
        default=None, description="Leave out to have the server make a UUIDv7."
    )
    name: str = strawberry.field(description="The pet's name (1 to 100 characters).")
    species: str = strawberry.field(description='What kind of animal, e.g. "Cat" (1 to 50).')
    price: Decimal = strawberry.field(description=_PRICE)


@strawberry.input(description="A pet is born to a mother in the store.")
class RecordPetBirthInput(CommandOptions):
    pet_id: uuid.UUID | None = strawberry.field(
        default=None, description="Leave out to have the server make a UUIDv7."
    )
    mother_id: uuid.UUID = strawberry.field(description="The mother: a pet AVAILABLE in the store.")
    name: str = strawberry.field(description="The newborn's name (1 to 100 characters).")
    species: str | None = strawberry.field(
        default=None, description="Default: the mother's; if given, it must be hers."
    )
    price: Decimal = strawberry.field(description=_PRICE)


@strawberry.input(description="A pet in the store is sold.")
class SellPetInput(CommandOptions):
    pet_id: uuid.UUID = strawberry.field(description="The pet sold: AVAILABLE in the store.")
    customer_id: uuid.UUID = strawberry.field(description="Who buys it.")
    sale_price: Decimal = strawberry.field(description="What it sells for. " + _PRICE)


@strawberry.input(description="The price of a pet that is not sold changes.")
class ChangePetPriceInput(CommandOptions):
    pet_id: uuid.UUID = strawberry.field(description="The pet, which must not be sold.")
    new_price: Decimal = strawberry.field(description="The price from now on. " + _PRICE)
    old_price: Decimal | None = strawberry.field(
        default=None, description="When given, the change is refused unless it is the price now."
    )


@strawberry.input(description="A pet in the store goes missing.")
class ReportPetLostInput(CommandOptions):
    pet_id: uuid.UUID = strawberry.field(description="The pet: AVAILABLE in the store.")
    lost_date: date | None = strawberry.field(
        default=None, description="The day it went missing; default: today."
    )
    last_seen_location: str | None = strawberry.field(
        default=None, description="Where it was last seen, if anyone knows."
    )


@strawberry.input(description="A lost pet is found again.")
class ReportPetFoundInput(CommandOptions):
    pet_id: uuid.UUID = strawberry.field(description="The pet: LOST.")
    found_date: date | None = strawberry.field(
        default=None, description="The day it was found, not before it was lost; default: today."
    )
    found_location: str | None = strawberry.field(default=None, description="Where it was found.")


@strawberry.input(description="Which pets to list; every field given must match.")
class PetFilter:
    status: list[PetStatus] | None = strawberry.field(
        default=None, description="Pets in any of these statuses."
    )
    species: str | None = strawberry.field(default=None, description="Pets of this species.")
    mother_id: uuid.UUID | None = strawberry.field(
        default=None, description="The offspring of this mother."
    )


@strawberry.input(description="Which events to list; every field given must match.")
class EventFilter:
    pet_id: uuid.UUID | None = strawberry.field(default=None, description="The events of one pet.")
    types: list[EventType] | None = strawberry.field(
        default=None, description="Events of any of these kinds."
    )
    since: datetime | None = strawberry.field(
        default=None, description="Recorded at or after this instant (with a zone)."
    )
    until: datetime | None = strawberry.field(
        default=None, description="Recorded at or before this instant (with a zone)."
    )
