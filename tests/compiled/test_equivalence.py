"""The compiled path answers every supported shape byte for byte as
strawberry does, and hands everything else to strawberry, which answers it
as it always has (errors included)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tests.api.store import CONCRETE_EVENT_FIELDS, Store, settle
from tests.compiled.conftest import Twin

PET = "id name species price status customerId motherId version lastEventId createdAt updatedAt"
EVENT = (
    "__typename id type petId petVersion createdAt metadata cursor actor requestId "
    "correlationId causationId " + CONCRETE_EVENT_FIELDS
)


@dataclass
class Shop:
    mom: str
    kits: list[str]
    dog: str
    between: str  # an instant between the kits' births and what followed
    events: list[str]  # every event id, oldest first


@pytest_asyncio.fixture(loop_scope="session")
async def shop(store: Store, conn: asyncpg.Connection) -> Shop:
    metadata = {"weight": 1.10, "tags": ["a", "é"], "nested": {"none": None}, "big": 10**30}
    correlation = str(uuid.uuid4())
    mom = await store.arrive(name='Mïnou "la chatte"\t🐈', species="Cat", price="120.50")
    mom_id = mom["pet"]["id"]
    kits = []
    for name in ("Kit\none", "Kit two"):
        born = await store.birth(mom_id, name=name, price="40.00", metadata=metadata)
        kits.append(born["pet"]["id"])
    between = datetime.now().astimezone().isoformat()
    await store.change_price(kits[0], "45.00", oldPrice="40.00", correlationId=correlation)
    await store.lose(kits[1], lastSeenLocation="near the \x01 pond, 'quoted'")
    await store.find(kits[1], causationId=correlation)
    dog = await store.arrive(name="Rex", species="Dog", price="0.00")
    await store.sell(dog["pet"]["id"])
    await settle(conn)
    events = [str(r["id"]) for r in await conn.fetch("select id from pet_event_log order by id")]
    return Shop(mom_id, kits, dog["pet"]["id"], between, events)


SUPPORTED: list[tuple[str, str, Any]] = [
    (
        "pets page, every field, at every level a __typename",
        f"""{{ __typename pets {{ __typename
              edges {{ __typename cursor node {{ __typename {PET} }} }}
              pageInfo {{ __typename hasNextPage hasPreviousPage startCursor endCursor }}
              nodes {{ id }} }} }}""",
        None,
    ),
    (
        "pets filtered by variables, a page of two",
        """query($s: [PetStatus!], $m: UUID, $n: Int) {
             pets(filter: {status: $s, motherId: $m, species: "Cat"}, first: $n) {
               edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }""",
        lambda shop: {"s": ["AVAILABLE", "LOST"], "m": shop.mom, "n": 1},
    ),
    (
        "pets with a filter object as a variable, and an empty status list",
        "query($f: PetFilter) { pets(filter: $f) { nodes { name status } } }",
        lambda shop: {"f": {"status": [], "species": "Dog"}},
    ),
    (
        "pets, first: 0",
        "{ pets(first: 0) { edges { cursor } pageInfo { hasNextPage startCursor endCursor } } }",
        None,
    ),
    (
        "a pet with its mother, offspring and a history page",
        f"""query($id: UUID!) {{ pet(id: $id) {{
              {PET} mother {{ name mother {{ id }} offspring {{ name }} }} offspring {{ id }}
              history(first: 2) {{ edges {{ cursor node {{ {EVENT} }} }}
                pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }} }}""",
        lambda shop: {"id": shop.kits[1]},
    ),
    (
        "a pet as it was",
        f"""query($id: UUID!, $at: DateTime) {{ pet(id: $id, asOf: $at) {{
              {PET} history {{ nodes {{ type }} }} }} }}""",
        lambda shop: {"id": shop.kits[0], "at": shop.between},
    ),
    (
        "a pet before it existed, and one that never did",
        """query($id: UUID!) { a: pet(id: $id, asOf: "2001-01-01T00:00:00Z") { id }
             b: pet(id: "00000000-0000-7000-8000-000000000000") { id } }""",
        lambda shop: {"id": shop.mom},
    ),
    (
        "one event of each kind, by id",
        f"""query($a: UUID!, $b: UUID!, $c: UUID!, $d: UUID!, $e: UUID!, $f: UUID!) {{
              a: event(id: $a) {{ {EVENT} pet {{ name }} }} b: event(id: $b) {{ {EVENT} }}
              c: event(id: $c) {{ {EVENT} }} d: event(id: $d) {{ {EVENT} }}
              e: event(id: $e) {{ {EVENT} }} f: event(id: $f) {{ {EVENT} }} }}""",
        lambda shop: dict(zip("abcdef", shop.events[:6], strict=True)),
    ),
    (
        "the whole stream from the beginning, with every field",
        f"""{{ events(after: "0", first: 100) {{ edges {{ cursor node {{ {EVENT} }} }}
              pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}""",
        None,
    ),
    (
        "the stream filtered",
        """query($p: UUID, $t: [EventType!], $since: DateTime) {
             events(filter: {petId: $p, types: $t, since: $since}, first: 5) {
               nodes { type petId } pageInfo { hasNextPage } } }""",
        lambda shop: {
            "p": shop.kits[1],
            "t": ["PET_LOST", "PET_FOUND_AGAIN"],
            "since": shop.between,
        },
    ),
    (
        "aliases, the same field twice, named and inline fragments",
        """query { first: pets(first: 1) { ...Page } again: pets(first: 2) { ...Page ...Page }
                   pets { nodes { id } } pets { nodes { name } } }
           fragment Page on PetConnection { edges { node { ...Names id } } }
           fragment Names on Pet { name ... on Pet { species } }""",
        None,
    ),
    (
        "@include and @skip with variables and literals",
        """query($yes: Boolean!, $no: Boolean!) {
             pets(first: 3) @include(if: $yes) {
               nodes { id name @skip(if: $yes) species @include(if: $no) status @skip(if: false)
                       ... on Pet @include(if: $yes) { price } } }
             events(first: 1) @skip(if: $yes) { nodes { id } } }""",
        {"yes": True, "no": False},
    ),
    (
        "@include and @skip the other way round",
        """query($yes: Boolean!, $no: Boolean!) {
             pets(first: 3) @include(if: $yes) {
               nodes { id name @skip(if: $yes) species @include(if: $no) status @skip(if: false)
                       ... on Pet @include(if: $yes) { price } } }
             events(first: 1) @skip(if: $yes) { nodes { id } } }""",
        {"yes": False, "no": True},
    ),
    (
        "the operation picked by name",
        "query A { pets { nodes { id } } } query B { events { nodes { id } } }",
        None,
    ),
]


@pytest.mark.parametrize(
    ("what", "document", "variables"), SUPPORTED, ids=[s[0] for s in SUPPORTED]
)
async def test_supported_shapes_answer_as_strawberry_does(
    twin: Twin, shop: Shop, what: str, document: str, variables: Any
) -> None:
    values = variables(shop) if callable(variables) else variables
    name = "B" if "query B" in document else None
    answers = await twin.ask(document, values, operation_name=name)
    assert answers.same, (answers.compiled, answers.reference)
    assert answers.answered_by_compiled, answers.reference
    assert b'"errors"' not in answers.compiled


async def test_pages_resume_from_their_cursors_as_strawberry_does(twin: Twin, shop: Shop) -> None:
    pets = "query($a: String) { pets(first: 2, after: $a) { nodes { id } pageInfo { endCursor } } }"
    after = None
    seen = 0
    while True:
        answers = await twin.ask(pets, {"a": after})
        assert answers.same
        assert answers.answered_by_compiled
        page = json.loads(answers.compiled)["data"]["pets"]
        seen += len(page["nodes"])
        after = page["pageInfo"]["endCursor"]
        if after is None:
            break
    assert seen == 4
    stream = "query($a: String) { events(first: 3, after: $a) { edges { cursor } } }"
    answers = await twin.ask(stream, {"a": "0"})
    cursor = json.loads(answers.compiled)["data"]["events"]["edges"][-1]["cursor"]
    resumed = await twin.ask(stream, {"a": cursor})
    assert resumed.same
    assert resumed.answered_by_compiled


async def test_a_history_resumes_from_its_cursor(twin: Twin, shop: Shop) -> None:
    document = """query($id: UUID!, $a: String) {
        pet(id: $id) { history(first: 1, after: $a) {
          edges { cursor node { type } } pageInfo { hasPreviousPage endCursor } } } }"""
    after = None
    for _ in range(4):
        answers = await twin.ask(document, {"id": shop.kits[1], "a": after})
        assert answers.same
        assert answers.answered_by_compiled
        after = json.loads(answers.compiled)["data"]["pet"]["history"]["pageInfo"]["endCursor"]
    assert after is None


PASSED_ON: list[tuple[str, str, Any]] = [
    ("a page too large", "{ pets(first: 501) { nodes { id } } }", None),
    ("a negative page", "query($n: Int) { events(first: $n) { nodes { id } } }", {"n": -1}),
    ("a cursor of another list", '{ pets(after: "c3RyZWFtOjEuMQ") { nodes { id } } }', None),
    (
        "a cursor that is none",
        "query($a: String) { events(after: $a) { nodes { id } } }",
        {"a": "?"},
    ),
    (
        "a history cursor that is none",
        'query($id: UUID!) { pet(id: $id) { history(after: "x") { nodes { id } } } }',
        lambda shop: {"id": shop.mom},
    ),
    (
        "asOf without a time zone",
        'query($id: UUID!) { pet(id: $id, asOf: "2026-01-01T00:00:00") { id } }',
        lambda shop: {"id": shop.mom},
    ),
    (
        "since without a time zone",
        "query($s: DateTime) { events(filter: {since: $s}) { nodes { id } } }",
        {"s": "2026-01-01T00:00:00"},
    ),
    ("a field that does not exist", "{ pets { nodes { nmae } } }", None),
    (
        "a variable of the wrong type",
        "query($n: Int) { pets(first: $n) { nodes { id } } }",
        {"n": "x"},
    ),
    ("a syntax error", "{ pets { nodes { id } }", None),
    ("introspection", "{ __schema { queryType { name } } }", None),
    ("a subscription by POST", "subscription { events { id } }", None),
    ("an operation that is not there", "query A { pets { nodes { id } } }", None),
    (
        "too deep",
        "{ pets { nodes { mother { mother { mother { mother { mother { mother "
        "{ mother { mother { mother { id } } } } } } } } } } }",
        None,
    ),
]


@pytest.mark.parametrize(
    ("what", "document", "variables"), PASSED_ON, ids=[s[0] for s in PASSED_ON]
)
async def test_what_it_does_not_answer_strawberry_answers(
    twin: Twin, shop: Shop, what: str, document: str, variables: Any
) -> None:
    values = variables(shop) if callable(variables) else variables
    name = "B" if what == "an operation that is not there" else None
    answers = await twin.ask(document, values, operation_name=name)
    assert answers.same_but_request_ids, (answers.compiled, answers.reference)
    assert not answers.answered_by_compiled


async def test_a_value_strawberry_reads_differently_is_left_to_strawberry(
    twin: Twin, shop: Shop, conn: asyncpg.Connection
) -> None:
    # Written by hand: a correlation id that Python's uuid.UUID() accepts but
    # PostgreSQL would print differently.
    event_id = await conn.fetchval(
        "insert into pet_price_change_events (pet_id, new_price, metadata) values ($1, 1, $2)"
        " returning id",
        uuid.UUID(shop.mom),
        json.dumps({"correlationId": "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}"}),
    )
    document = "query($id: UUID!) { event(id: $id) { id correlationId } }"
    answers = await twin.ask(document, {"id": str(event_id)})
    assert answers.same, (answers.compiled, answers.reference)
    assert not answers.answered_by_compiled
    assert b'"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"' in answers.reference
    plain = await twin.ask("query($id: UUID!) { event(id: $id) { id } }", {"id": str(event_id)})
    assert plain.same
    assert plain.answered_by_compiled


async def test_time_travel_between_two_events_in_one_microsecond(twin: Twin, shop: Shop) -> None:
    at = (datetime.fromisoformat(shop.between) + timedelta(microseconds=1)).isoformat()
    answers = await twin.ask(
        "query($id: UUID!, $at: DateTime) { pet(id: $id, asOf: $at) { price updatedAt } }",
        {"id": shop.kits[0], "at": at},
    )
    assert answers.same
    assert answers.answered_by_compiled
