"""Which subscriptions share a group (graphql_petstore.sharing.keys): the
rules alone, without a server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql_petstore.settings import Settings
from graphql_petstore.sharing.keys import plan

SETTINGS = Settings(api_tokens={"secret-a": "alice", "secret-b": "bob"})
EVENTS = "subscription($after: String) { events(after: $after) { id } }"


@dataclass
class Caller:
    authorization: str | None = None
    connection_params: Any = None


def key(query: str, variables: Any = None, caller: Caller | None = None) -> Any:
    made = plan(query, None, variables, caller or Caller(), SETTINGS)
    return None if made is None else made.key


def test_the_start_says_where_a_subscriber_begins_not_what_it_sees() -> None:
    live = plan(EVENTS, None, {"after": None}, Caller(), SETTINGS)
    catching_up = plan(EVENTS, None, {"after": "c3RyZWFtOjEuMQ"}, Caller(), SETTINGS)
    assert live is not None
    assert catching_up is not None
    assert not live.catch_up
    assert catching_up.catch_up
    assert catching_up.key == live.key
    assert catching_up.variables == {"after": None}


def test_documents_the_rules_cannot_vouch_for_run_alone() -> None:
    assert key('subscription { events(after: "0") { id } }') is None
    assert key('subscription($a: String = "0") { events(after: $a) { id } }') is None
    # The start's variable used elsewhere too: taking it out would change more.
    assert (
        key(
            "subscription($a: String) { events(after: $a) { pet { history(after: $a) { nodes "
            "{ type } } } } }"
        )
        is None
    )
    assert key("query { pets { edges { node { id } } } }") is None
    assert key("subscription { events { id } petChanged { event { id } } }") is None
    assert key("subscription {") is None
    assert key("subscription { events { id } }", variables=["not", "a", "map"]) is None


def test_anything_that_may_change_the_result_is_in_the_key() -> None:
    pet = "subscription($id: UUID) { petChanged(id: $id) { event { id } } }"
    assert key(pet, {"id": "a"}) != key(pet, {"id": "b"})
    assert key(pet, {"id": "a"}) == key(pet, {"id": "a"})
    assert key("subscription { events { id } }") != key("subscription { events { id type } }")
    anonymous = key(EVENTS)
    alice = key(EVENTS, caller=Caller(authorization="Bearer secret-a"))
    assert anonymous != alice
    assert alice == key(EVENTS, caller=Caller(authorization="bearer secret-a"))
    assert alice != key(EVENTS, caller=Caller(authorization="Bearer secret-b"))
    # A token that is no token is as none.
    assert anonymous == key(EVENTS, caller=Caller(authorization="Bearer wrong"))
    in_init = key(EVENTS, caller=Caller(connection_params={"Authorization": "Bearer secret-a"}))
    assert in_init not in (anonymous, None)
    assert key(EVENTS, caller=Caller(connection_params={"x": 1})) != anonymous


def test_a_pets_group_is_indexed_by_its_pet() -> None:
    pet = "subscription($id: UUID) { petChanged(id: $id) { event { id } } }"
    one = "0190a3c4-0000-7000-8000-000000000001"
    made = plan(pet, None, {"id": one}, Caller(), SETTINGS)
    assert made is not None
    assert str(made.pet_id) == one
    literal = plan(
        f'subscription {{ petChanged(id: "{one}") {{ event {{ id }} }} }}',
        None,
        {},
        Caller(),
        SETTINGS,
    )
    assert literal is not None
    assert str(literal.pet_id) == one
    every = plan("subscription { petChanged { event { id } } }", None, {}, Caller(), SETTINGS)
    assert every is not None
    assert every.pet_id is None
    not_a_pet = plan(pet, None, {"id": "x"}, Caller(), SETTINGS)
    assert not_a_pet is not None
    assert not_a_pet.pet_id is None
