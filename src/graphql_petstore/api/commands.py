"""From a mutation's input to the event to append: the early checks, the
columns, the metadata the server adds, and the idempotency fingerprint.

Both request paths build their commands here — strawberry's resolvers
(api/mutations.py) and the compiled path (compiled/writes.py) — from the
input as a mapping of Python field names, so a mutation means the same
whichever path serves it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql_petstore.api.types import UserError
from graphql_petstore.api.validation import (
    MAX_LOCATION_LENGTH,
    MAX_NAME_LENGTH,
    MAX_SPECIES_LENGTH,
    InputErrors,
    trimmed,
)
from graphql_petstore.database.appends import Command, Idempotency
from graphql_petstore.database.ids import new_id

MAX_IDEMPOTENCY_KEY_LENGTH = 200  # as idempotency_keys.key in sql/0011


@dataclass(frozen=True)
class Mutation:
    """One mutation field: its event type and how its input becomes columns."""

    event_type: str
    check: Callable[[InputErrors, Mapping[str, Any]], None]
    columns: Callable[[Mapping[str, Any]], dict[str, Any]]


def _arrival_checks(checks: InputErrors, given: Mapping[str, Any]) -> None:
    checks.text("name", given["name"], max_length=MAX_NAME_LENGTH, required=True)
    checks.text("species", given["species"], max_length=MAX_SPECIES_LENGTH, required=True)
    checks.price("price", given["price"])


def _sale_checks(checks: InputErrors, given: Mapping[str, Any]) -> None:
    checks.price("salePrice", given["sale_price"])


def _price_checks(checks: InputErrors, given: Mapping[str, Any]) -> None:
    checks.price("newPrice", given["new_price"])
    checks.price("oldPrice", given["old_price"])


def _loss_checks(checks: InputErrors, given: Mapping[str, Any]) -> None:
    checks.event_date("lostDate", given["lost_date"])
    checks.text(
        "lastSeenLocation",
        given["last_seen_location"],
        max_length=MAX_LOCATION_LENGTH,
        required=False,
    )


def _find_checks(checks: InputErrors, given: Mapping[str, Any]) -> None:
    checks.event_date("foundDate", given["found_date"])
    checks.text(
        "foundLocation", given["found_location"], max_length=MAX_LOCATION_LENGTH, required=False
    )


# By GraphQL field name. Optional columns left out (None) take the database's
# defaults: lost and found dates default to today, a birth's species to the
# mother's, a price change's old price to the current one.
MUTATIONS: dict[str, Mutation] = {
    "recordPetArrival": Mutation(
        "PET_ARRIVED",
        _arrival_checks,
        lambda given: {
            "pet_id": given["pet_id"] or new_id(),
            "name": trimmed(given["name"]),
            "species": trimmed(given["species"]),
            "price": given["price"],
        },
    ),
    "recordPetBirth": Mutation(
        "PET_BORN",
        _arrival_checks,
        lambda given: {
            "pet_id": given["pet_id"] or new_id(),
            "mother_id": given["mother_id"],
            "name": trimmed(given["name"]),
            "species": trimmed(given["species"]),
            "price": given["price"],
        },
    ),
    "sellPet": Mutation(
        "PET_SOLD",
        _sale_checks,
        lambda given: {
            "pet_id": given["pet_id"],
            "customer_id": given["customer_id"],
            "sale_price": given["sale_price"],
        },
    ),
    "changePetPrice": Mutation(
        "PET_PRICE_CHANGE",
        _price_checks,
        lambda given: {
            "pet_id": given["pet_id"],
            "new_price": given["new_price"],
            "old_price": given["old_price"],
        },
    ),
    "reportPetLost": Mutation(
        "PET_LOST",
        _loss_checks,
        lambda given: {
            "pet_id": given["pet_id"],
            "lost_date": given["lost_date"],
            "last_seen_location": given["last_seen_location"],
        },
    ),
    "reportPetFound": Mutation(
        "PET_FOUND_AGAIN",
        _find_checks,
        lambda given: {
            "pet_id": given["pet_id"],
            "found_date": given["found_date"],
            "found_location": given["found_location"],
        },
    ),
}


def build_command(
    field: str,
    given: Mapping[str, Any],
    *,
    actor: str,
    request_id: str,
    max_metadata_bytes: int,
) -> Command | list[UserError]:
    """The command for mutation `field` with input `given` (every input field
    by its Python name), or the userErrors that the early checks found."""
    mutation = MUTATIONS[field]
    checks = InputErrors()
    mutation.check(checks, given)
    metadata: Any = given["metadata"]
    checks.metadata(metadata, max_metadata_bytes)
    expected_version = given["expected_version"]
    if expected_version is not None and expected_version < 0:
        checks.add("expectedVersion", "expectedVersion must be 0 or more")
    key = given["idempotency_key"]
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        checks.add(
            "idempotencyKey",
            f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters",
        )
    elif key is not None and "\x00" in key:
        checks.add("idempotencyKey", "idempotencyKey must not contain NUL characters")
    if checks.errors:
        return checks.errors
    stored_metadata = {**(metadata or {}), "actor": actor, "requestId": request_id}
    if given["correlation_id"] is not None:
        stored_metadata["correlationId"] = str(given["correlation_id"])
    if given["causation_id"] is not None:
        stored_metadata["causationId"] = str(given["causation_id"])
    return Command(
        event_type=mutation.event_type,
        event_id=new_id(),
        columns=mutation.columns(given),
        metadata=stored_metadata,
        expected_version=expected_version,
        idempotency=None
        if key is None
        else Idempotency(key, _fingerprint(mutation.event_type, actor, given)),
    )


def _fingerprint(event_type: str, actor: str, given: Mapping[str, Any]) -> str:
    """What makes two requests the same: the mutation, the caller and the
    input as the client gave it (not the ids the server would make)."""
    input = {k: v for k, v in given.items() if k != "idempotency_key"}
    canonical = json.dumps(
        {"type": event_type, "actor": actor, "input": input}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
