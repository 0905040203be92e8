"""Descriptions that strawberry has no place for in the classes: those of
the enum values (strawberry.enum_value would make mypy see each value as an
EnumValueDefinition instead of its string) and of strawberry's own scalars.
create_schema puts them on the schema it makes (each schema has its own
type objects)."""

from __future__ import annotations

from graphql import GraphQLEnumType, GraphQLSchema

ENUM_VALUES: dict[str, dict[str, str]] = {
    "PetStatus": {
        "AVAILABLE": "In the store: it can be sold, lost, or give birth.",
        "SOLD": "Sold to a customer; its price no longer changes.",
        "LOST": "Missing until it is found again.",
    },
    "EventType": {
        "PET_ARRIVED": "A pet came into the store (PetArrived).",
        "PET_BORN": "A pet was born to a mother in the store (PetBorn).",
        "PET_SOLD": "A pet was sold (PetSold).",
        "PET_PRICE_CHANGE": "A pet's price changed (PetPriceChange).",
        "PET_LOST": "A pet went missing (PetLost).",
        "PET_FOUND_AGAIN": "A lost pet was found again (PetFoundAgain).",
    },
    "ErrorCode": {
        "VALIDATION_FAILED": "An input field is malformed: a negative price, an empty name.",
        "PET_NOT_FOUND": "No pet has this id.",
        "PET_ALREADY_EXISTS": "A pet with this id arrived or was born already.",
        "MOTHER_NOT_FOUND": "No pet has the mother's id.",
        "MOTHER_NOT_IN_STORE": "The mother is sold or lost: only pets in the store give birth.",
        "SPECIES_MISMATCH": "A newborn's species must be its mother's.",
        "PET_NOT_AVAILABLE": "Selling a lost pet, or losing a pet that is not AVAILABLE.",
        "PET_ALREADY_SOLD": "The pet was sold: it cannot be sold again or repriced.",
        "PET_NOT_LOST": "Only a LOST pet can be found again.",
        "OLD_PRICE_MISMATCH": "The oldPrice given is not the pet's price now.",
        "FOUND_BEFORE_LOST": "The foundDate is before the day the pet was lost.",
        "VERSION_CONFLICT": (
            "The pet is not at expectedVersion (someone changed it first); "
            "actualVersion says where it is."
        ),
        "IDEMPOTENCY_KEY_REUSED": (
            "This idempotencyKey was used before with a different input or by another mutation."
        ),
    },
}
SCALARS = {
    "UUID": 'A UUID as a string, e.g. "0195c7a2-5f1e-7c3a-9b1d-2f4e6a8c0d12"; ids are UUIDv7.',
    "Decimal": 'An exact amount of money as a string, e.g. "120.00" (never a float).',
    "DateTime": 'An instant in ISO 8601 with a zone, e.g. "2026-01-31T12:00:00+00:00".',
    "Date": 'A day in ISO 8601, e.g. "2026-01-31".',
}


def describe(schema: GraphQLSchema) -> None:
    for name, values in ENUM_VALUES.items():
        enum = schema.type_map[name]
        assert isinstance(enum, GraphQLEnumType)
        for value, description in values.items():
            enum.values[value].description = description
    for name, description in SCALARS.items():
        schema.type_map[name].description = description
