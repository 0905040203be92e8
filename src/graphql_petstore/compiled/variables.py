"""A request's variables, coerced as graphql-core's get_variable_values
coerces them, without its per-request work.

graphql-core works each variable's type out of the document again on every
request (type_from_ast, a signature and a source record per variable, a walk
of the value's nesting depth); a plan knows the types once. Each value still
goes through graphql-core's own coerce_input_value, so every scalar's rules,
and the input guards wrapped around them (api/input_guards.py), apply as
they do on strawberry's path. Anything out of the ordinary is left to
get_variable_values, which reports it as it always has: a variable with a
default value, a missing or null non-null one, a value that does not coerce,
an input type that can nest without bound.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    Undefined,
    VariableDefinitionNode,
    coerce_input_value,
    is_input_type,
    type_from_ast,
)
from graphql.execution.values import get_variable_values

# A variable's name, its type, and whether it may be null or left out.
Signature = tuple[str, GraphQLInputType, bool]


def signatures(
    schema: GraphQLSchema, definitions: Collection[VariableDefinitionNode]
) -> tuple[Signature, ...] | None:
    """What the fast path needs of an operation's variables, or None when
    they are not all plain enough for it."""
    found = []
    for definition in definitions:
        if definition.default_value is not None:
            return None
        type_ = type_from_ast(schema, definition.type)
        if type_ is None or not is_input_type(type_) or _nests_without_bound(type_, ()):
            return None
        nullable = not isinstance(type_, GraphQLNonNull)
        found.append((definition.variable.name.value, type_, nullable))
    return tuple(found)


def coerce(
    schema: GraphQLSchema,
    definitions: Collection[VariableDefinitionNode],
    plain: tuple[Signature, ...] | None,
    inputs: dict[str, Any],
) -> dict[str, Any] | list[GraphQLError]:
    """The coerced variables, or graphql-core's errors."""
    if plain is not None:
        coerced = _coerce_plain(plain, inputs)
        if coerced is not None:
            return coerced
    result = get_variable_values(schema, definitions, inputs)
    return result if isinstance(result, list) else result.coerced


def _coerce_plain(plain: tuple[Signature, ...], inputs: dict[str, Any]) -> dict[str, Any] | None:
    coerced: dict[str, Any] = {}
    for name, type_, nullable in plain:
        value = inputs.get(name, Undefined)
        if value is Undefined or value is None:
            if not nullable:
                return None  # graphql-core's error
            if value is None:
                coerced[name] = None
            continue  # a nullable variable left out is left out
        value = coerce_input_value(value, type_)
        if value is Undefined:
            return None  # graphql-core says why
        coerced[name] = value
    return coerced


def _nests_without_bound(type_: GraphQLInputType, seen: tuple[GraphQLInputObjectType, ...]) -> bool:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    if not isinstance(type_, GraphQLInputObjectType):
        return False
    if type_ in seen:
        return True
    return any(_nests_without_bound(f.type, (*seen, type_)) for f in type_.fields.values())
