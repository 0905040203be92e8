"""The six mutations: check, append one event, return it with the pet."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from graphql import GraphQLError

from graphql_petstore import error_codes
from graphql_petstore.api.commands import build_command
from graphql_petstore.api.inputs import (
    ChangePetPriceInput,
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
from graphql_petstore.database.appends import (
    AppendNotStored,
    AppendOutcomeUnknown,
    append,
    appended,
)
from graphql_petstore.database.consistency import token_of
from graphql_petstore.errors import DomainError
from graphql_petstore.observability.events import event_appended, event_rejected

if TYPE_CHECKING:
    from graphql_petstore.api.context import Context


async def _append(info: Info, field: str, input: Any) -> PetEventPayload:
    context: Context = info.context
    actor = context.writer()
    command = build_command(
        field,
        dataclasses.asdict(input),
        actor=actor,
        request_id=context.request_id,
        max_metadata_bytes=context.settings.max_metadata_bytes,
    )
    if isinstance(command, list):
        event_rejected(command[0].code.value)
        return PetEventPayload(user_errors=command)
    # Stored now, by this call: not when the compiled path stored it already
    # (it counted it), nor when an idempotency key replays an earlier event.
    new_here = context.appended_event_id is None
    try:
        if context.appended_event_id is not None:
            # The compiled path stored this very command already.
            event, pet = await appended(context.pool, context.appended_event_id)
        else:
            event, pet = await append(context.pool, command)
    except DomainError as error:
        event_rejected(error.code)
        return PetEventPayload(user_errors=[user_error(error)])
    except (AppendNotStored, AppendOutcomeUnknown) as exc:
        raise append_failure(exc) from exc
    new_here = new_here and event["id"] == command.event_id
    event_appended(command.event_type, event["id"], event["pet_id"], stored=new_here)
    context.doorbell.announce()
    stored = Pet.from_row(pet)
    context.loaders.pet.prime(stored.id, stored)
    return PetEventPayload(
        event=event_from_row(event), pet=stored, consistency_token=token_of(event["id"])
    )


def append_failure(exc: AppendNotStored | AppendOutcomeUnknown) -> GraphQLError:
    """The error of an append that could not reach the database or whose
    connection broke: retryable either way; when the outcome is unknown, the
    client learns the event's id so that it can look the event up before it
    retries without an idempotency key."""
    if isinstance(exc, AppendNotStored):
        return GraphQLError(
            "the database could not be reached; nothing was stored",
            extensions={"code": error_codes.DATABASE_UNAVAILABLE, "retryable": True},
        )
    return GraphQLError(
        str(exc),
        extensions={
            "code": error_codes.APPEND_OUTCOME_UNKNOWN,
            "retryable": True,
            "eventId": str(exc.event_id),
        },
    )


def user_error(error: DomainError) -> UserError:
    field = ["input", _camel(error.field)] if error.field else None
    return UserError(
        code=ErrorCode(error.code),
        message=error.message,
        field=field,
        actual_version=error.actual_version,
    )


def _camel(column: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), column)


@strawberry.type(
    description="The six commands; each stores one event, or nothing and userErrors saying "
    "why. Writes need Authorization: Bearer <token>."
)
class Mutation:
    @strawberry.mutation(description="A pet arrives at the store (PetArrived).")
    async def record_pet_arrival(
        self,
        info: Info,
        input: Annotated[
            RecordPetArrivalInput, strawberry.argument(description="The arriving pet.")
        ],
    ) -> PetEventPayload:
        return await _append(info, "recordPetArrival", input)

    @strawberry.mutation(description="A pet is born to a mother in the store (PetBorn).")
    async def record_pet_birth(
        self,
        info: Info,
        input: Annotated[RecordPetBirthInput, strawberry.argument(description="The newborn.")],
    ) -> PetEventPayload:
        return await _append(info, "recordPetBirth", input)

    @strawberry.mutation(description="An AVAILABLE pet is sold to a customer (PetSold).")
    async def sell_pet(
        self,
        info: Info,
        input: Annotated[SellPetInput, strawberry.argument(description="The sale.")],
    ) -> PetEventPayload:
        return await _append(info, "sellPet", input)

    @strawberry.mutation(
        description="The price of a pet that is not sold changes (PetPriceChange)."
    )
    async def change_pet_price(
        self,
        info: Info,
        input: Annotated[ChangePetPriceInput, strawberry.argument(description="The new price.")],
    ) -> PetEventPayload:
        return await _append(info, "changePetPrice", input)

    @strawberry.mutation(description="An AVAILABLE pet goes missing (PetLost).")
    async def report_pet_lost(
        self,
        info: Info,
        input: Annotated[ReportPetLostInput, strawberry.argument(description="The loss.")],
    ) -> PetEventPayload:
        return await _append(info, "reportPetLost", input)

    @strawberry.mutation(description="A LOST pet is found again (PetFoundAgain).")
    async def report_pet_found(
        self,
        info: Info,
        input: Annotated[ReportPetFoundInput, strawberry.argument(description="The find.")],
    ) -> PetEventPayload:
        return await _append(info, "reportPetFound", input)
