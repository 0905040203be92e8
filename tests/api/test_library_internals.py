"""What graphql_petstore.api.library_internals relies on in strawberry and
graphql-core: each test fails loudly, naming what changed, when an upgrade
breaks an assumption."""

from __future__ import annotations

import inspect

import pytest
from graphql import (
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLSyntaxError,
    StringValueNode,
    parse,
    validate,
)
from strawberry.asgi import GraphQL
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from graphql_petstore.api.library_internals import is_token_limit
from graphql_petstore.api.schema import create_schema
from graphql_petstore.app import PetstoreGraphQL
from graphql_petstore.settings import Settings


def test_graphql_core_still_says_a_document_is_over_its_token_limit() -> None:
    with pytest.raises(GraphQLSyntaxError) as raised:
        parse("{ a b c d e f }", max_tokens=3)
    assert is_token_limit(raised.value), raised.value.message
    with pytest.raises(GraphQLSyntaxError) as other:
        parse("{ a ")
    assert not is_token_limit(other.value)


def test_strawberry_scalars_still_raise_literal_errors_without_a_node() -> None:
    uuid_type = create_schema(Settings())._schema.type_map["UUID"]
    assert isinstance(uuid_type, GraphQLScalarType)
    original = uuid_type.parse_literal._petstore_original  # type: ignore[attr-defined]
    with pytest.raises(GraphQLError) as raised:
        original(StringValueNode(value="xyz"))
    assert not raised.value.nodes, "strawberry gives the node now: drop locate_scalar_errors"
    [error] = validate(uuid_type_schema(), parse('{ pet(id: "xyz") { id } }'))
    assert error.locations, "locate_scalar_errors gives it"


def uuid_type_schema() -> GraphQLSchema:
    return create_schema(Settings())._schema


def test_strawberry_http_view_still_decides_operation_types_in_execute_single() -> None:
    ours = inspect.signature(PetstoreGraphQL.execute_single)
    theirs = inspect.signature(GraphQL.execute_single)
    assert list(ours.parameters) == list(theirs.parameters)
    assert "allowed_operation_types" in inspect.getsource(GraphQL.execute_single)
    assert InvalidOperationTypeError(OperationType.SUBSCRIPTION).operation_type is (
        OperationType.SUBSCRIPTION
    )
