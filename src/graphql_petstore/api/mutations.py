"""The six mutations: validate, append one event, return it with the pet."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import strawberry

from graphql_petstore.api.inputs import (
    ChangePetPriceInput,
    CommandOptions,
    RecordPetArrivalInput,
    RecordPetBirthInput,
    ReportPetFoundInput,
    ReportPetLostInput,
    SellPetInput,
)
from graphql_petstore.api.types import (
    ErrorCode,
    Info,
    Pet,
    PetEventPayload,
    UserError,
    event_from_row,
)
from graphql_petstore.api.validation import (
    MAX_LOCATION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_SPECIES_LENGTH,
    InputErrors,
    trimmed,
)
from graphql_petstore.database.appends import Idempotency, append_event, new_id
from graphql_petstore.errors import DomainError
from graphql_petstore.observability.events import event_appended, event_rejected

if TYPE_CHECKING:
    from graphql_petstore.api.context import Context

MAX_IDEMPOTENCY_KEY_LENGTH = 200  # as idempotency_keys.key in sql/0011


def _fingerprint(event_type: str, actor: str, input: CommandOptions) -> str:
    """What makes two requests the same: the mutation, the caller and the
    input as the client gave it (not the ids the server would make)."""
    given = {k: v for k, v in dataclasses.asdict(input).items() if k != "idempotency_key"}
    canonical = json.dumps(
        {"type": event_type, "actor": actor, "input": given}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _append(
    info: Info, checks: InputErrors, event_type: str, input: CommandOptions, values: dict[str, Any]
) -> PetEventPayload:
    context: Context = info.context
    actor = context.writer()
    metadata: Any = input.metadata
    checks.metadata(metadata, context.settings.max_metadata_bytes)
    if input.expected_version is not None and input.expected_version < 0:
        checks.add("expectedVersion", "expectedVersion must be 0 or more")
    key = input.idempotency_key
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        checks.add(
            "idempotencyKey",
            f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters",
        )
    elif key is not None and "\x00" in key:
        checks.add("idempotencyKey", "idempotencyKey must not contain NUL characters")
    if checks.errors:
        event_rejected(checks.errors[0].code.value)
        return PetEventPayload(user_errors=checks.errors)
    stored_metadata = {**(metadata or {}), "actor": actor, "requestId": context.request_id}
    if input.correlation_id is not None:
        stored_metadata["correlationId"] = str(input.correlation_id)
    if input.causation_id is not None:
        stored_metadata["causationId"] = str(input.causation_id)
    row = {
        "id": new_id(),
        "metadata": stored_metadata,
        "expected_version": input.expected_version,
        **values,
    }
    try:
        event, pet = await append_event(
            context.engine,
            event_type,
            row,
            None if key is None else Idempotency(key, _fingerprint(event_type, actor, input)),
        )
    except DomainError as error:
        event_rejected(error.code)
        return PetEventPayload(user_errors=[_user_error(error)])
    event_appended(event_type, event["id"], event["pet_id"], stored=event["id"] == row["id"])
    context.doorbell.announce()
    stored = Pet.from_row(pet)
    context.loaders.pet.prime(stored.id, stored)
    return PetEventPayload(event=event_from_row(event), pet=stored)


def _user_error(error: DomainError) -> UserError:
    field = ["input", _camel(error.field)] if error.field else None
    return UserError(
        code=ErrorCode(error.code),
        message=error.message,
        field=field,
        actual_version=error.actual_version,
    )


def _camel(column: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), column)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="A pet arrives at the store (PetArrived).")
    async def record_pet_arrival(self, info: Info, input: RecordPetArrivalInput) -> PetEventPayload:
        checks = InputErrors()
        checks.text("name", input.name, max_length=MAX_NAME_LENGTH, required=True)
        checks.text("species", input.species, max_length=MAX_SPECIES_LENGTH, required=True)
        checks.price("price", input.price)
        return await _append(
            info,
            checks,
            "PET_ARRIVED",
            input,
            {
                "pet_id": input.pet_id or new_id(),
                "name": trimmed(input.name),
                "species": trimmed(input.species),
                "price": input.price,
            },
        )

    @strawberry.mutation(description="A pet is born to a mother in the store (PetBorn).")
    async def record_pet_birth(self, info: Info, input: RecordPetBirthInput) -> PetEventPayload:
        checks = InputErrors()
        checks.text("name", input.name, max_length=MAX_NAME_LENGTH, required=True)
        checks.text("species", input.species, max_length=MAX_SPECIES_LENGTH, required=True)
        checks.price("price", input.price)
        return await _append(
            info,
            checks,
            "PET_BORN",
            input,
            {
                "pet_id": input.pet_id or new_id(),
                "mother_id": input.mother_id,
                "name": trimmed(input.name),
                "species": trimmed(input.species),
                "price": input.price,
            },
        )

    @strawberry.mutation(description="An AVAILABLE pet is sold to a customer (PetSold).")
    async def sell_pet(self, info: Info, input: SellPetInput) -> PetEventPayload:
        checks = InputErrors()
        checks.price("salePrice", input.sale_price)
        return await _append(
            info,
            checks,
            "PET_SOLD",
            input,
            {
                "pet_id": input.pet_id,
                "customer_id": input.customer_id,
                "sale_price": input.sale_price,
            },
        )

    @strawberry.mutation(description="The price of a pet that is not sold changes.")
    async def change_pet_price(self, info: Info, input: ChangePetPriceInput) -> PetEventPayload:
        checks = InputErrors()
        checks.price("newPrice", input.new_price)
        checks.price("oldPrice", input.old_price)
        return await _append(
            info,
            checks,
            "PET_PRICE_CHANGE",
            input,
            {
                "pet_id": input.pet_id,
                "new_price": input.new_price,
                "old_price": input.old_price,
            },
        )

    @strawberry.mutation(description="An AVAILABLE pet goes missing (PetLost).")
    async def report_pet_lost(self, info: Info, input: ReportPetLostInput) -> PetEventPayload:
        checks = InputErrors()
        checks.text(
            "lastSeenLocation",
            input.last_seen_location,
            max_length=MAX_LOCATION_LENGTH,
            required=False,
        )
        values: dict[str, Any] = {
            "pet_id": input.pet_id,
            "last_seen_location": input.last_seen_location,
        }
        if input.lost_date is not None:
            values["lost_date"] = input.lost_date
        return await _append(info, checks, "PET_LOST", input, values)

    @strawberry.mutation(description="A LOST pet is found again (PetFoundAgain).")
    async def report_pet_found(self, info: Info, input: ReportPetFoundInput) -> PetEventPayload:
        checks = InputErrors()
        checks.text(
            "foundLocation", input.found_location, max_length=MAX_LOCATION_LENGTH, required=False
        )
        values: dict[str, Any] = {
            "pet_id": input.pet_id,
            "found_location": input.found_location,
        }
        if input.found_date is not None:
            values["found_date"] = input.found_date
        return await _append(info, checks, "PET_FOUND_AGAIN", input, values)
