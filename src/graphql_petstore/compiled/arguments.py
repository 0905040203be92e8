"""Argument values: known when compiling, or computed per request.

A compiled statement is shared by every request of its document (and
variant, see compiled/plans.py): an argument written in the document is a
constant of the statement, one that takes a variable becomes a parameter
whose value each request computes from its own variables — with the same
checks the strawberry resolvers make (page sizes, cursors, time zones), so
that a value they would refuse sends the request to strawberry, which
refuses it in its own words.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLNonNull,
    ObjectValueNode,
    Undefined,
    ValueNode,
    VariableNode,
    value_from_ast,
    visit,
)
from graphql.language import Visitor

from graphql_petstore.database.appends import Command

T = TypeVar("T")
U = TypeVar("U")
_keys = itertools.count()


@dataclass
class Bindings:
    """What one request gives a compiled statement: its coerced variables,
    the command of a mutation, whether the caller may read audit fields."""

    variables: dict[str, Any]
    command: Command | None = None
    audit: bool = True
    cache: dict[int | str, Any] = field(default_factory=dict)
    # When compiling: the variables whose values this variant is for, written
    # into its statement like literals (page sizes, compiled/plans.py).
    inlined: frozenset[str] = frozenset()


class RequestValueError(Exception):
    """This request's values are not for the compiled path (strawberry's
    resolvers would refuse them); other requests of the document may be."""


@dataclass(frozen=True)
class Value(Generic[T]):
    """An argument's value when compiling (from the variables the document
    was compiled with) and how to compute it for any request."""

    sample: T
    get: Callable[[Bindings], T]
    constant: bool

    def then(self, transform: Callable[[T], U]) -> Value[U]:
        """The value passed through one of the resolvers' checks."""
        if self.constant:
            value = transform(self.sample)
            return Value(value, lambda _: value, True)
        get = self.get
        key = next(_keys)

        def derived(bindings: Bindings) -> U:
            # Each request computes a derived value once, however many
            # parameters use it.
            if key not in bindings.cache:
                bindings.cache[key] = transform(get(bindings))
            result: U = bindings.cache[key]
            return result

        return Value(transform(self.sample), derived, False)


def argument(definition: GraphQLField, node: FieldNode, name: str, sample: Bindings) -> Value[Any]:
    arg = definition.args[name]
    default = None if arg.default_value is Undefined else arg.default_value
    given = next((a for a in node.arguments or () if a.name.value == name), None)
    if given is None:
        return Value(default, lambda _: default, True)
    value_node = given.value
    if not _has_variables(value_node):
        value = value_from_ast(value_node, arg.type, {})
        if value is Undefined:
            raise RequestValueError(f"argument {name} is not valid")
        return Value(value, lambda _: value, True)

    read = _reader(value_node, arg.type)

    def get(bindings: Bindings) -> Any:
        value = read(bindings.variables)
        return default if value is Undefined else value

    if isinstance(value_node, VariableNode) and value_node.name.value in sample.inlined:
        value = get(sample)
        return Value(value, lambda _: value, True)
    return Value(get(sample), get, False)


def _reader(node: ValueNode, type_: GraphQLInputType) -> Callable[[dict[str, Any]], Any]:
    """value_from_ast(node, type_, variables) as a function of the variables,
    with what does not depend on them worked out once: a mutation's
    `input: {petId: $id, newPrice: $price}` is read on every request. Input
    objects and variables are read here as value_from_ast reads them;
    anything else is left to it."""
    if not _has_variables(node):
        value = value_from_ast(node, type_, {})
        return lambda _: value
    if isinstance(node, VariableNode):
        name, non_null = node.name.value, isinstance(type_, GraphQLNonNull)

        def variable(variables: dict[str, Any]) -> Any:
            value = variables.get(name, Undefined)
            return Undefined if value is None and non_null else value

        return variable
    object_type = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if not (
        isinstance(node, ObjectValueNode)
        and isinstance(object_type, GraphQLInputObjectType)
        and not object_type.is_one_of
        and all(f.name.value in object_type.fields for f in node.fields)
    ):
        return lambda variables: value_from_ast(node, type_, variables)
    given = {f.name.value: f.value for f in node.fields}
    # (key in the result, reader of the given value or None, the variable it
    # is when it is one, the field's default or Undefined, whether non-null)
    fields = []
    for name, input_field in object_type.fields.items():
        value = given.get(name)
        fields.append(
            (
                input_field.out_name or name,
                None if value is None else _reader(value, input_field.type),
                value.name.value if isinstance(value, VariableNode) else None,
                input_field.default_value,
                isinstance(input_field.type, GraphQLNonNull),
            )
        )
    out_type = object_type.out_type

    def input_object(variables: dict[str, Any]) -> Any:
        coerced: dict[str, Any] = {}
        for key, read, variable, default, non_null in fields:
            if read is None or (
                variable is not None and variables.get(variable, Undefined) is Undefined
            ):
                # Not given, or given a variable that the request left out.
                if default is not Undefined:
                    coerced[key] = default
                elif non_null:
                    return Undefined
                continue
            value = read(variables)
            if value is Undefined:
                return Undefined
            coerced[key] = value
        return out_type(coerced)

    return input_object


class _Variables(Visitor):
    found = False

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.found = True


def _has_variables(node: ValueNode) -> bool:
    visitor = _Variables()
    visit(node, visitor)
    return visitor.found


def shape_of(value: Any) -> Any:
    """What decides a compiled variant about a variable's value: whether it
    is null, which fields an input object has, whether a list is empty or
    has one item or more, and a Boolean's value (for @skip and @include).
    Nothing else: two requests whose variables have the same shapes share a
    statement."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict):
        return tuple((key, shape_of(item)) for key, item in value.items())
    if isinstance(value, list | tuple):
        return min(len(value), 2)
    return 1
