"""On strawberry's path (which answers whatever the compiled path leaves to
it), a page of pets with their mothers, offspring and histories takes a fixed
number of SQL statements, however many pets the page holds (DataLoaders).
The compiled path's one statement per request: tests/compiled/test_statements.py."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from starlette.applications import Starlette

from graphql_petstore.settings import Settings
from tests.api.store import Store
from tests.conftest import GraphQLClient

PAGE = """
query($first: Int) {
  pets(first: $first) {
    edges {
      node {
        id
        mother { id name }
        offspring { id }
        history(first: 10) { edges { node { type } } }
      }
    }
  }
}
"""
MAX_STATEMENTS = 5
FAMILIES = 10
FAMILY_SIZE = 5  # a mother and four kittens, all on the page


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, compiled_operations=False)


@contextmanager
def counting_statements(app: Starlette) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def add_families(store: Store) -> None:
    """Per family: a grandmother whose id sorts after every UUIDv7 (so she is
    never on the page and must be loaded), her daughter with a price change,
    and the daughter's four kittens, each lost and found."""
    for n in range(FAMILIES):
        outside = str(uuid.UUID(int=(1 << 128) - 1 - n))
        await store.arrive(name=f"Grandma{n}", petId=outside)
        mom = (await store.birth(outside, name=f"Mom{n}"))["pet"]["id"]
        await store.change_price(mom, "42.00")
        for k in range(FAMILY_SIZE - 1):
            kitten = (await store.birth(mom, name=f"Kit{n}.{k}"))["pet"]["id"]
            await store.lose(kitten)
            await store.find(kitten)


async def page_statements(
    gql: GraphQLClient, app: Starlette, first: int
) -> tuple[list[str], list[dict[str, Any]]]:
    await gql.query(PAGE, {"first": first})  # warm up: pooled connections, caches
    with counting_statements(app) as statements:
        result = await gql.query(PAGE, {"first": first})
    assert "errors" not in result, result
    return statements, [edge["node"] for edge in result["data"]["pets"]["edges"]]


def check_page(nodes: list[dict[str, Any]], size: int) -> None:
    """The page is right: whole families, every relation and history loaded."""
    assert len(nodes) == size
    by_id = {node["id"]: node for node in nodes}
    moms = [n for n in nodes if n["mother"]["name"].startswith("Grandma")]
    kittens = [n for n in nodes if n["mother"]["name"].startswith("Mom")]
    assert len(moms) == size // FAMILY_SIZE
    assert len(kittens) == size - len(moms)
    for mom in moms:
        assert [e["node"]["type"] for e in mom["history"]["edges"]] == [
            "PET_BORN",
            "PET_PRICE_CHANGE",
        ]
        assert len(mom["offspring"]) == FAMILY_SIZE - 1
        family = mom["mother"]["name"].removeprefix("Grandma")
        for child in mom["offspring"]:
            assert by_id[child["id"]]["mother"] == {"id": mom["id"], "name": f"Mom{family}"}
    for kitten in kittens:
        assert kitten["offspring"] == []
        assert [e["node"]["type"] for e in kitten["history"]["edges"]] == [
            "PET_BORN",
            "PET_LOST",
            "PET_FOUND_AGAIN",
        ]


async def test_a_page_of_pets_with_relations_takes_the_same_few_statements_for_5_or_50(
    store: Store, gql: GraphQLClient, app: Starlette
) -> None:
    await add_families(store)
    small, small_page = await page_statements(gql, app, FAMILY_SIZE)
    large, large_page = await page_statements(gql, app, FAMILIES * FAMILY_SIZE)
    check_page(small_page, FAMILY_SIZE)
    check_page(large_page, FAMILIES * FAMILY_SIZE)
    assert len(small) <= MAX_STATEMENTS, small
    assert len(large) == len(small), large
