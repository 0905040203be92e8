"""What the error codes rely on in graphql-core (and strawberry's scalars)
beyond their documented API (see the package's docstring).

- graphql-core reports a document over its token limit as a syntax error
  whose message says so (graphql.language.parser): that message is how a
  token-limit error is told from any other syntax error.
- strawberry's scalars raise a GraphQLError without a node when a literal
  written in the document does not parse, and graphql-core's
  ValuesOfCorrectTypeRule reports it as it is: without `locations`. Each
  scalar's parse_literal is wrapped to add the node.
- graphql-core coerces every input value through its scalar's
  `coerce_input_value` / `coerce_input_literal` (and the deprecated
  `parse_value` / `parse_literal` that strawberry's scalars define), and
  passes a GraphQLError raised there on, with its extensions, as the
  original error of the variable's or literal's error. The checks of
  api/input_guards.py are put around those functions: on graphql-core's own
  String, which every schema of the process shares (no String may hold what
  PostgreSQL cannot store, in any schema here), and on this schema's
  DateTime and JSON.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLInt,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    GraphQLSyntaxError,
    ValueNode,
    is_specified_scalar_type,
)

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


_GUARDED_COERCERS = ("coerce_input_value", "coerce_input_literal", "parse_value", "parse_literal")


def guard_scalars(schema: GraphQLSchema) -> None:
    """Every String, DateTime and JSON input value passes its check of
    api/input_guards.py (see the top of this module)."""
    from graphql_petstore.api.input_guards import (
        check_instant,
        check_json,
        check_string,
        integer_conversion,
    )

    _guard(GraphQLString, _then(check_string))
    _guard(GraphQLInt, integer_conversion)
    for name, check in (("DateTime", check_instant), ("JSON", check_json)):
        named = schema.type_map.get(name)
        if isinstance(named, GraphQLScalarType):
            _guard(named, _then(check))


def _guard(scalar: GraphQLScalarType, wrap: Any) -> None:
    """Replaces each coercion function of `scalar` with `wrap(it)`, once."""
    for attribute in _GUARDED_COERCERS:
        coerce = getattr(scalar, attribute, None)
        if coerce is None or getattr(coerce, "_petstore_guarded", False):
            continue
        guarded = wrap(coerce)
        guarded._petstore_guarded = True
        setattr(scalar, attribute, guarded)


def _then(check: Any) -> Any:
    """A wrap for _guard: the coerced value passes through `check`."""

    def wrap(coerce: Any) -> Any:
        def checked(*args: Any) -> Any:
            return check(coerce(*args))

        return checked

    return wrap
