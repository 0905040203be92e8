"""What the error codes rely on in strawberry and graphql-core beyond their
documented API. tests/api/test_library_internals.py fails loudly when an
upgrade changes any of it.

- graphql-core reports a document over its token limit as a syntax error
  whose message says so (graphql.language.parser): that message is how a
  token-limit error is told from any other syntax error.
- strawberry's scalars raise a GraphQLError without a node when a literal
  written in the document does not parse, and graphql-core's
  ValuesOfCorrectTypeRule reports it as it is: without `locations`. Each
  scalar's parse_literal is wrapped to add the node.
- strawberry's HTTP view runs a subscription sent over plain HTTP as if it
  were a query (and fails on the non-null root field); `execute_single` is
  where it decides which operation types an HTTP request may run.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLSyntaxError,
    ValueNode,
    is_specified_scalar_type,
)
from strawberry.types.graphql import OperationType

_TOKEN_LIMIT = re.compile(r"Syntax Error: Document contains more than \d+ tokens\.")


def is_token_limit(error: GraphQLError) -> bool:
    return isinstance(error, GraphQLSyntaxError) and bool(_TOKEN_LIMIT.match(error.message))


def locate_scalar_errors(schema: GraphQLSchema) -> None:
    """Make the errors of every custom scalar's literals carry the literal's
    location (graphql-core's own scalars give it already, and are shared by
    every schema of the process)."""
    for named in schema.type_map.values():
        if isinstance(named, GraphQLScalarType) and not is_specified_scalar_type(named):
            named.parse_literal = _located(named.parse_literal)  # type: ignore[method-assign]


def _located(parse_literal: Any) -> Any:
    if getattr(parse_literal, "_petstore_located", False):
        return parse_literal

    def parse(node: ValueNode, variables: Any = None) -> Any:
        try:
            return parse_literal(node, variables)
        except GraphQLError as error:
            if error.nodes:
                raise
            raise GraphQLError(
                error.message,
                node,
                original_error=error.original_error,
                extensions=error.extensions,
            ) from error

    parse._petstore_located = True  # type: ignore[attr-defined]
    parse._petstore_original = parse_literal  # type: ignore[attr-defined]
    return parse


HTTP_OPERATION_TYPES = {
    "GET": {OperationType.QUERY},
    "POST": {OperationType.QUERY, OperationType.MUTATION},
}
