"""Every expected refusal comes back as a userError with its code and the path
of the input field at fault, and stores nothing: no event, no change to pets."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from graphql_petstore.settings import Settings
from tests.api.store import Store, event_count, pet_row

UNKNOWN_PET = "00000000-0000-4000-8000-000000000000"


async def assert_rejected(
    store: Store,
    conn: asyncpg.Connection,
    field: str,
    input: dict[str, Any],
    code: str,
    path: list[str] | None,
    watched: list[str] | None = None,
) -> dict[str, Any]:
    """The mutation returns exactly one userError (code, path) and stores
    nothing; `watched` pets keep their rows unchanged."""
    watched = watched or []
    events_before = await event_count(conn)
    pets_before = [await pet_row(conn, pet_id) for pet_id in watched]
    pets_total = await conn.fetchval("select count(*) from pets")

    payload = await store.attempt(field, input)

    assert payload["event"] is None, payload
    assert payload["pet"] is None, payload
    assert len(payload["userErrors"]) == 1, payload
    error = payload["userErrors"][0]
    assert (error["code"], error["field"]) == (code, path), payload
    assert error["message"].strip(), payload
    assert await event_count(conn) == events_before
    assert await conn.fetchval("select count(*) from pets") == pets_total
    assert [await pet_row(conn, pet_id) for pet_id in watched] == pets_before
    return error


def arrival(**changes: Any) -> dict[str, Any]:
    return {"name": "Fluffy", "species": "Cat", "price": "10.00", **changes}


# --- validation of input values ----------------------------------------------


@pytest.mark.parametrize(
    ("input", "path", "mentions"),
    [
        pytest.param(arrival(name="   "), ["input", "name"], "name", id="blank-name"),
        pytest.param(arrival(name="x" * 101), ["input", "name"], "100", id="name-101-chars"),
        pytest.param(arrival(species=""), ["input", "species"], "species", id="empty-species"),
        pytest.param(arrival(species="x" * 51), ["input", "species"], "50", id="species-51"),
        pytest.param(arrival(price="-0.01"), ["input", "price"], "price", id="negative-price"),
        pytest.param(arrival(price="1.005"), ["input", "price"], "decimals", id="three-decimals"),
        pytest.param(arrival(price="NaN"), ["input", "price"], "price", id="nan-price"),
        pytest.param(arrival(price="Infinity"), ["input", "price"], "price", id="infinite-price"),
        pytest.param(
            arrival(price="100000000.00"), ["input", "price"], "99999999.99", id="price-too-large"
        ),
        pytest.param(arrival(metadata=[1, 2]), ["input", "metadata"], "object", id="metadata-list"),
        pytest.param(
            arrival(metadata="text"), ["input", "metadata"], "object", id="metadata-string"
        ),
        pytest.param(arrival(metadata=5), ["input", "metadata"], "object", id="metadata-number"),
    ],
)
async def test_arrival_with_an_invalid_value_fails_validation(
    store: Store, conn: asyncpg.Connection, input: dict[str, Any], path: list[str], mentions: str
) -> None:
    error = await assert_rejected(store, conn, "recordPetArrival", input, "VALIDATION_FAILED", path)
    assert mentions in error["message"]


async def test_metadata_over_the_size_limit_fails_validation(
    store: Store, conn: asyncpg.Connection, settings: Settings
) -> None:
    # Compact JSON of {"pad":"…"} is 10 bytes plus the padding.
    limit = settings.max_metadata_bytes
    at_limit = {"pad": "x" * (limit - 10)}
    over_limit = {"pad": "x" * (limit - 9)}
    error = await assert_rejected(
        store,
        conn,
        "recordPetArrival",
        arrival(metadata=over_limit),
        "VALIDATION_FAILED",
        ["input", "metadata"],
    )
    assert str(limit) in error["message"]
    accepted = await store.arrive(metadata=at_limit)
    assert accepted["event"]["metadata"]["pad"] == at_limit["pad"]


async def test_several_invalid_values_are_all_reported(
    store: Store, conn: asyncpg.Connection
) -> None:
    events_before = await event_count(conn)
    payload = await store.attempt(
        "recordPetArrival", {"name": "", "species": " ", "price": "-1", "metadata": []}
    )
    assert sorted((e["code"], e["field"][1]) for e in payload["userErrors"]) == [
        ("VALIDATION_FAILED", "metadata"),
        ("VALIDATION_FAILED", "name"),
        ("VALIDATION_FAILED", "price"),
        ("VALIDATION_FAILED", "species"),
    ]
    assert await event_count(conn) == events_before


async def test_invalid_values_of_the_other_mutations_name_their_own_fields(
    store: Store, conn: asyncpg.Connection
) -> None:
    mother = (await store.arrive())["pet"]["id"]
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        (
            "recordPetBirth",
            {"motherId": mother, "name": " ", "price": "1.00"},
            ["input", "name"],
        ),
        (
            "recordPetBirth",
            {"motherId": mother, "name": "Kit", "price": "1.001"},
            ["input", "price"],
        ),
        (
            "sellPet",
            {"petId": mother, "customerId": str(uuid.uuid4()), "salePrice": "-5"},
            ["input", "salePrice"],
        ),
        ("changePetPrice", {"petId": mother, "newPrice": "NaN"}, ["input", "newPrice"]),
        (
            "changePetPrice",
            {"petId": mother, "newPrice": "1.00", "oldPrice": "0.001"},
            ["input", "oldPrice"],
        ),
        (
            "reportPetLost",
            {"petId": mother, "lastSeenLocation": "x" * 1001},
            ["input", "lastSeenLocation"],
        ),
        (
            "reportPetFound",
            {"petId": mother, "foundLocation": "x" * 1001},
            ["input", "foundLocation"],
        ),
        ("sellPet", arrival_metadata(mother, ["not", "an", "object"]), ["input", "metadata"]),
    ]
    for field, input, path in cases:
        await assert_rejected(
            store, conn, field, input, "VALIDATION_FAILED", path, watched=[mother]
        )


def arrival_metadata(pet_id: str, metadata: Any) -> dict[str, Any]:
    return {
        "petId": pet_id,
        "customerId": str(uuid.uuid4()),
        "salePrice": "1.00",
        "metadata": metadata,
    }


async def test_a_name_that_fits_once_trimmed_is_accepted(store: Store) -> None:
    payload = await store.attempt("recordPetArrival", arrival(name=" " + "x" * 100))
    assert payload["userErrors"] == []
    assert payload["pet"]["name"] == "x" * 100


@pytest.mark.parametrize(
    "input",
    [arrival(name="Flu\u0000ffy"), arrival(metadata={"note": "a\u0000b"})],
    ids=["name", "metadata"],
)
async def test_a_nul_character_is_refused_before_anything_runs(
    store: Store, conn: asyncpg.Connection, input: dict[str, Any]
) -> None:
    # PostgreSQL's text and jsonb cannot hold NUL: refused for every string
    # of every argument alike (api/input_guards.py), not as a userError.
    result = await store.gql.write(
        "mutation($input: RecordPetArrivalInput!) { recordPetArrival(input: $input) "
        "{ userErrors { code field } } }",
        {"input": input},
    )
    assert result["data"] is None
    assert [e["extensions"]["code"] for e in result["errors"]] == ["UNSUPPORTED_CHARACTER"]
    assert await event_count(conn) == 0


# --- the rules of the store ----------------------------------------------------


async def test_an_event_on_an_unknown_pet_is_pet_not_found(
    store: Store, conn: asyncpg.Connection
) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("sellPet", {"petId": UNKNOWN_PET, "customerId": str(uuid.uuid4()), "salePrice": "1"}),
        ("changePetPrice", {"petId": UNKNOWN_PET, "newPrice": "1.00"}),
        ("reportPetLost", {"petId": UNKNOWN_PET}),
        ("reportPetFound", {"petId": UNKNOWN_PET}),
    ]
    for field, input in cases:
        await assert_rejected(store, conn, field, input, "PET_NOT_FOUND", ["input", "petId"])


async def test_arrival_or_birth_of_a_taken_pet_id_is_pet_already_exists(
    store: Store, conn: asyncpg.Connection
) -> None:
    existing = (await store.arrive())["pet"]["id"]
    mother = (await store.arrive(name="Mom"))["pet"]["id"]
    await assert_rejected(
        store,
        conn,
        "recordPetArrival",
        arrival(petId=existing, name="Other"),
        "PET_ALREADY_EXISTS",
        ["input", "petId"],
        watched=[existing],
    )
    await assert_rejected(
        store,
        conn,
        "recordPetBirth",
        {"petId": existing, "motherId": mother, "name": "Kit", "price": "1.00"},
        "PET_ALREADY_EXISTS",
        ["input", "petId"],
        watched=[existing, mother],
    )


async def test_birth_to_an_unknown_mother_is_mother_not_found(
    store: Store, conn: asyncpg.Connection
) -> None:
    await assert_rejected(
        store,
        conn,
        "recordPetBirth",
        {"motherId": UNKNOWN_PET, "name": "Kit", "price": "1.00"},
        "MOTHER_NOT_FOUND",
        ["input", "motherId"],
    )


async def test_birth_to_a_sold_or_lost_mother_is_mother_not_in_store(
    store: Store, conn: asyncpg.Connection
) -> None:
    sold = (await store.arrive(name="Sold"))["pet"]["id"]
    await store.sell(sold)
    lost = (await store.arrive(name="Lost"))["pet"]["id"]
    await store.lose(lost)
    for mother in (sold, lost):
        await assert_rejected(
            store,
            conn,
            "recordPetBirth",
            {"motherId": mother, "name": "Kit", "price": "1.00"},
            "MOTHER_NOT_IN_STORE",
            ["input", "motherId"],
            watched=[mother],
        )


async def test_birth_of_another_species_is_species_mismatch(
    store: Store, conn: asyncpg.Connection
) -> None:
    mother = (await store.arrive(species="Cat"))["pet"]["id"]
    await assert_rejected(
        store,
        conn,
        "recordPetBirth",
        {"motherId": mother, "name": "Pup", "species": "Dog", "price": "1.00"},
        "SPECIES_MISMATCH",
        ["input", "species"],
        watched=[mother],
    )


async def test_selling_a_sold_pet_is_pet_already_sold(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet_id = (await store.arrive())["pet"]["id"]
    await store.sell(pet_id)
    await assert_rejected(
        store,
        conn,
        "sellPet",
        {"petId": pet_id, "customerId": str(uuid.uuid4()), "salePrice": "1.00"},
        "PET_ALREADY_SOLD",
        ["input", "petId"],
        watched=[pet_id],
    )


async def test_selling_a_lost_pet_or_losing_one_that_is_not_available_is_pet_not_available(
    store: Store, conn: asyncpg.Connection
) -> None:
    sold = (await store.arrive(name="Sold"))["pet"]["id"]
    await store.sell(sold)
    lost = (await store.arrive(name="Lost"))["pet"]["id"]
    await store.lose(lost)
    await assert_rejected(
        store,
        conn,
        "sellPet",
        {"petId": lost, "customerId": str(uuid.uuid4()), "salePrice": "1.00"},
        "PET_NOT_AVAILABLE",
        ["input", "petId"],
        watched=[lost],
    )
    for pet_id in (sold, lost):
        await assert_rejected(
            store,
            conn,
            "reportPetLost",
            {"petId": pet_id},
            "PET_NOT_AVAILABLE",
            ["input", "petId"],
            watched=[pet_id],
        )


async def test_changing_the_price_of_a_sold_pet_is_pet_already_sold(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet_id = (await store.arrive())["pet"]["id"]
    await store.sell(pet_id)
    await assert_rejected(
        store,
        conn,
        "changePetPrice",
        {"petId": pet_id, "newPrice": "5.00"},
        "PET_ALREADY_SOLD",
        ["input", "petId"],
        watched=[pet_id],
    )


async def test_finding_a_pet_that_is_not_lost_is_pet_not_lost(
    store: Store, conn: asyncpg.Connection
) -> None:
    available = (await store.arrive(name="Here"))["pet"]["id"]
    sold = (await store.arrive(name="Gone"))["pet"]["id"]
    await store.sell(sold)
    for pet_id in (available, sold):
        await assert_rejected(
            store,
            conn,
            "reportPetFound",
            {"petId": pet_id},
            "PET_NOT_LOST",
            ["input", "petId"],
            watched=[pet_id],
        )


async def test_a_stale_old_price_is_old_price_mismatch(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet_id = (await store.arrive(price="100.00"))["pet"]["id"]
    await store.change_price(pet_id, "90.00")
    await assert_rejected(
        store,
        conn,
        "changePetPrice",
        {"petId": pet_id, "newPrice": "80.00", "oldPrice": "100.00"},
        "OLD_PRICE_MISMATCH",
        ["input", "oldPrice"],
        watched=[pet_id],
    )


async def test_a_found_date_before_the_lost_date_is_found_before_lost(
    store: Store, conn: asyncpg.Connection
) -> None:
    pet_id = (await store.arrive())["pet"]["id"]
    await store.lose(pet_id, lostDate="2024-05-10")
    await assert_rejected(
        store,
        conn,
        "reportPetFound",
        {"petId": pet_id, "foundDate": "2024-05-09"},
        "FOUND_BEFORE_LOST",
        ["input", "foundDate"],
        watched=[pet_id],
    )
