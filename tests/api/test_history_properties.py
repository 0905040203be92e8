"""Property: random command sequences over a few pets, run through the real API,
agree with a small Python model of the rules (design §3), and leave a history
that verify(), pet(asOf:), Pet.history and events(until:) all read back exactly.

How hypothesis and asyncio meet here: pytest-asyncio (1.x) recognises a test
whose function is wrapped by hypothesis's @given and runs each example's
coroutine to completion on the test's event loop (the session loop, see
pyproject.toml), so `@given` sits directly on an `async def` test. The fixtures
(the app, its database, the connection) are function-scoped and therefore shared
by all the examples of one test run, which hypothesis warns about
(HealthCheck.function_scoped_fixture). That is harmless here because every
example uses pet ids of its own (fresh uuid4s, made in the test body, not drawn),
so examples never touch each other's pets, and every assertion is about the
example's own pets, except verify(), which must hold for the whole database at
any time anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import event as label
from hypothesis import strategies as st

from graphql_petstore.database.replay import verify
from tests.api.store import Store, parse_time, settle
from tests.conftest import GraphQLClient

MAX_PETS = 6
SPECIES = ("Cat", "Dog")
NAMES = ("Tom", "Rex", "Kit")
BASE_DATE = date(2024, 6, 1)
MICROSECOND = timedelta(microseconds=1)

PET_FIELDS = "id name species price status customerId motherId version lastEventId"

AS_OF = f"""
query($id: UUID!, $asOf: DateTime) {{ pet(id: $id, asOf: $asOf) {{ {PET_FIELDS} }} }}
"""

HISTORY = """
query($id: UUID!) {
  pet(id: $id) { history(first: 100) { edges { node { id petVersion createdAt } } } }
}
"""

EVENTS = """
query($filter: EventFilter) {
  events(filter: $filter, first: 100) { edges { node { id petId petVersion } } }
}
"""


# --- the commands ---------------------------------------------------------------

# A pet is named by its slot: 0 … pets+BIRTHS-1 are the example's pets (which
# exist once an arrival or birth succeeds; most of the first `pets` arrive at
# the start, the last BIRTHS are meant for births), and slot UNKNOWN is an id
# that never exists.
BIRTHS = 3
UNKNOWN = MAX_PETS + BIRTHS

cents = st.integers(min_value=0, max_value=999_999)
days = st.integers(min_value=0, max_value=10)
any_slot = st.integers(min_value=0, max_value=UNKNOWN)


def commands(pets: int) -> st.SearchStrategy[tuple[Any, ...]]:
    own = st.integers(min_value=0, max_value=pets + BIRTHS - 1)
    newborn = st.integers(min_value=pets, max_value=pets + BIRTHS - 1)
    target = st.one_of(own, own, own, own, own, st.just(UNKNOWN))
    arrive = st.tuples(
        st.just("arrive"), own, st.sampled_from(NAMES), st.sampled_from(SPECIES), cents
    )
    birth = st.tuples(
        st.just("birth"),
        st.one_of(newborn, newborn, own),
        target,
        st.one_of(st.none(), st.sampled_from(SPECIES)),
        cents,
    )
    sell = st.tuples(st.just("sell"), target, cents)
    change = st.tuples(
        st.just("change"), target, cents, st.sampled_from(["omitted", "current", "wrong"])
    )
    lose = st.tuples(st.just("lose"), target, st.one_of(st.none(), days))
    find = st.tuples(st.just("find"), target, st.one_of(st.none(), days))
    # Losses and finds twice as often: they are what makes a pet come and go.
    return st.one_of(lose, find, birth, change, sell, arrive, lose, find)


@st.composite
def programs(draw: st.DrawFn) -> tuple[int, list[tuple[Any, ...]]]:
    pets = draw(st.integers(min_value=3, max_value=MAX_PETS))
    # Most pets arrive first, so that most commands meet an existing pet; the
    # others are left to a birth or a late arrival.
    arrives = draw(st.lists(st.booleans(), min_size=pets, max_size=pets))
    opening: list[tuple[Any, ...]] = [
        ("arrive", slot, draw(st.sampled_from(NAMES)), draw(st.sampled_from(SPECIES)), draw(cents))
        for slot, first in enumerate(arrives)
        if first or slot < 2
    ]
    rest = draw(st.lists(commands(pets), min_size=12, max_size=40 - len(opening)))
    return pets, opening + rest


def money(amount: int | Decimal) -> str:
    value = Decimal(amount) / 100 if isinstance(amount, int) else amount
    return f"{value:.2f}"


# --- the model --------------------------------------------------------------------


@dataclass(frozen=True)
class PetModel:
    id: str
    name: str
    species: str
    price: str
    status: str
    customerId: str | None
    motherId: str | None
    version: int
    lost_on: date | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "species": self.species,
            "price": self.price,
            "status": self.status,
            "customerId": self.customerId,
            "motherId": self.motherId,
            "version": self.version,
        }


def lost_date(offset: int | None) -> date:
    # The default is today (the server's date); an explicit date is in the past.
    return date.today() if offset is None else BASE_DATE + timedelta(days=offset)


def plan(
    command: tuple[Any, ...], ids: list[str], model: dict[str, PetModel]
) -> tuple[str, dict[str, Any], str | PetModel]:
    """The mutation for a command, its input, and what the rules say it does:
    the code of its userError, or the pet as the event leaves it."""
    kind = command[0]
    if kind == "arrive":
        _, slot, name, species, price = command
        pet_id = ids[slot]
        input = {"petId": pet_id, "name": name, "species": species, "price": money(price)}
        if pet_id in model:
            return "recordPetArrival", input, "PET_ALREADY_EXISTS"
        pet = PetModel(pet_id, name, species, money(price), "AVAILABLE", None, None, 1)
        return "recordPetArrival", input, pet
    if kind == "birth":
        _, slot, mother_slot, species, price = command
        pet_id, mother_id = ids[slot], ids[mother_slot]
        input = {"petId": pet_id, "motherId": mother_id, "name": "Kid", "price": money(price)}
        if species is not None:
            input["species"] = species
        mother = model.get(mother_id)
        if pet_id in model:
            return "recordPetBirth", input, "PET_ALREADY_EXISTS"
        if mother is None:
            return "recordPetBirth", input, "MOTHER_NOT_FOUND"
        if mother.status != "AVAILABLE":
            return "recordPetBirth", input, "MOTHER_NOT_IN_STORE"
        if species is not None and species != mother.species:
            return "recordPetBirth", input, "SPECIES_MISMATCH"
        pet = PetModel(pet_id, "Kid", mother.species, money(price), "AVAILABLE", None, mother_id, 1)
        return "recordPetBirth", input, pet

    pet_id = ids[command[1]]
    current = model.get(pet_id)
    if kind == "sell":
        customer = str(uuid.UUID(int=command[2] + 1))
        input = {"petId": pet_id, "customerId": customer, "salePrice": money(command[2])}
        if current is None:
            return "sellPet", input, "PET_NOT_FOUND"
        if current.status == "SOLD":
            return "sellPet", input, "PET_ALREADY_SOLD"
        if current.status != "AVAILABLE":
            return "sellPet", input, "PET_NOT_AVAILABLE"
        after = replace(current, status="SOLD", customerId=customer, version=current.version + 1)
        return "sellPet", input, after
    if kind == "change":
        _, _, new_price, old = command
        input = {"petId": pet_id, "newPrice": money(new_price)}
        if current is None:
            if old != "omitted":
                input["oldPrice"] = "1.00"
            return "changePetPrice", input, "PET_NOT_FOUND"
        if old == "current":
            input["oldPrice"] = current.price
        elif old == "wrong":
            input["oldPrice"] = money(Decimal(current.price) + Decimal("0.01"))
        if current.status == "SOLD":
            return "changePetPrice", input, "PET_ALREADY_SOLD"
        if old == "wrong":
            return "changePetPrice", input, "OLD_PRICE_MISMATCH"
        after = replace(current, price=money(new_price), version=current.version + 1)
        return "changePetPrice", input, after
    if kind == "lose":
        offset = command[2]
        input = {"petId": pet_id}
        if offset is not None:
            input["lostDate"] = lost_date(offset).isoformat()
        if current is None:
            return "reportPetLost", input, "PET_NOT_FOUND"
        if current.status != "AVAILABLE":
            return "reportPetLost", input, "PET_NOT_AVAILABLE"
        after = replace(
            current, status="LOST", version=current.version + 1, lost_on=lost_date(offset)
        )
        return "reportPetLost", input, after
    assert kind == "find", command
    offset = command[2]
    input = {"petId": pet_id}
    found_on = lost_date(offset)
    if offset is not None:
        input["foundDate"] = found_on.isoformat()
    if current is None:
        return "reportPetFound", input, "PET_NOT_FOUND"
    if current.status != "LOST":
        return "reportPetFound", input, "PET_NOT_LOST"
    assert current.lost_on is not None
    if found_on < current.lost_on:
        return "reportPetFound", input, "FOUND_BEFORE_LOST"
    after = replace(current, status="AVAILABLE", version=current.version + 1, lost_on=None)
    return "reportPetFound", input, after


# --- the property -------------------------------------------------------------------


async def pet_as_of(gql: GraphQLClient, pet_id: str, as_of: str) -> dict[str, Any] | None:
    result = await gql.query(AS_OF, {"id": pet_id, "asOf": as_of})
    assert "errors" not in result, result
    pet: dict[str, Any] | None = result["data"]["pet"]
    return pet


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=programs())
async def test_random_histories_follow_the_rules_and_read_back_exactly(
    program: tuple[int, list[tuple[Any, ...]]],
    gql: GraphQLClient,
    database_url: str,
    conn: asyncpg.Connection,
) -> None:
    _pets, program_commands = program
    # Fresh ids for every slot (slots above pets+BIRTHS-1 but for UNKNOWN go
    # unused), so that the examples sharing this database never meet.
    ids = [str(uuid.uuid4()) for _ in range(UNKNOWN + 1)]
    store = Store(gql)
    model: dict[str, PetModel] = {}
    # Per pet, in order: (the stored event, the pet as the payload showed it).
    recorded: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}

    # 1. Every outcome is the model's.
    for step, command in enumerate(program_commands):
        field, input, expected = plan(command, ids, model)
        payload = await store.attempt(field, input)
        context = (step, command, input, payload)
        label(f"{field}: {expected if isinstance(expected, str) else 'ok'}")
        if isinstance(expected, str):
            assert [error["code"] for error in payload["userErrors"]] == [expected], context
            assert payload["event"] is None, context
            assert payload["pet"] is None, context
            continue
        assert payload["userErrors"] == [], context
        pet, event = payload["pet"], payload["event"]
        assert {k: pet[k] for k in expected.fields()} == expected.fields(), context
        assert pet["lastEventId"] == event["id"], context
        assert (event["petId"], event["petVersion"]) == (expected.id, expected.version), context
        model[expected.id] = expected
        recorded.setdefault(expected.id, []).append((event, pet))

    # 2. The read model is the replay of the history.
    assert await verify(database_url, progress=False) == []

    # Exactly the successful commands were stored, in version order.
    rows = await conn.fetch(
        "select id::text as id, pet_id::text as pet_id, pet_version from events"
        " where pet_id = any($1::uuid[]) order by pet_id, pet_version",
        ids,
    )
    stored: dict[str, list[str]] = {}
    for row in rows:
        stored.setdefault(row["pet_id"], []).append(row["id"])
        assert row["pet_version"] == len(stored[row["pet_id"]]), dict(row)
    assert stored == {
        pet_id: [event["id"] for event, _ in events] for pet_id, events in recorded.items()
    }

    await settle(conn)
    for pet_id, events in recorded.items():
        # 3. pet(asOf: an event's time) is the pet as that event left it;
        # before the first event there was no pet.
        first = parse_time(events[0][0]["createdAt"])
        assert await pet_as_of(gql, pet_id, (first - MICROSECOND).isoformat()) is None
        for event, pet in events:
            then = await pet_as_of(gql, pet_id, event["createdAt"])
            assert then == {k: pet[k] for k in PET_FIELDS.split()}, (event, pet, then)

        # 4. Pet.history is the stored events in order; events(until: the
        # time of event k) is the first k of them.
        result = await gql.query(HISTORY, {"id": pet_id})
        assert "errors" not in result, result
        history = [edge["node"] for edge in result["data"]["pet"]["history"]["edges"]]
        assert [node["id"] for node in history] == stored[pet_id]
        assert [node["petVersion"] for node in history] == list(range(1, len(history) + 1))
        for k, (event, _) in enumerate(events, start=1):
            result = await gql.query(
                EVENTS, {"filter": {"petId": pet_id, "until": event["createdAt"]}}
            )
            assert "errors" not in result, result
            until = [edge["node"]["id"] for edge in result["data"]["events"]["edges"]]
            assert until == stored[pet_id][:k], (k, event)
