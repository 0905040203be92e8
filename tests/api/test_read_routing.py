"""Which documents read the primary whatever replicas there are: those that
ask for pet(asOf:) with an asOf that may be given, however they spell it."""

from __future__ import annotations

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from graphql_petstore.api.read_routing import reads_as_of


def _as_of(document: str) -> bool:
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return reads_as_of(operation, fragments)


@pytest.mark.parametrize(
    "document",
    [
        '{ pet(id: "x", asOf: "2026-01-01T00:00:00Z") { id } }',
        'query($t: DateTime) { p: pet(id: "x", asOf: $t) { id } }',
        '{ ... on Query { pet(id: "x", asOf: "2026-01-01T00:00:00Z") { id } } }',
        '{ ...Old } fragment Old on Query { pet(id: "x", asOf: "2026-01-01T00:00:00Z") { id } }',
    ],
)
def test_a_document_that_may_ask_for_a_pet_as_of_a_time_reads_the_primary(document: str) -> None:
    assert _as_of(document)


@pytest.mark.parametrize(
    "document",
    [
        '{ pet(id: "x") { id } }',
        '{ pet(id: "x", asOf: null) { id } }',
        "{ pets { nodes { id } } }",
        "{ ...A } fragment A on Query { ...A }",  # invalid, but must not loop
    ],
)
def test_other_documents_may_read_a_replica(document: str) -> None:
    assert not _as_of(document)
