"""Every argument of every root field of the live schema, down to each leaf
of its input objects, so that a test can put one bad value into exactly one
place ("every string argument including filters") and leave the rest valid.

An operation is sent two ways: the bad value in `variables` (JSON, as most
clients send values) and inline as a literal in the document (the compiled
path plans literals itself).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
)

from tests.fuzz.target import History

Path = tuple[str | int, ...]
STRING_LIKE = frozenset({"String", "ID", "UUID", "Decimal", "Date", "DateTime"})
# Pets of the fuzz history (target.seed_history) in the state each command needs.
MOTHER, AVAILABLE, LOST = 0, 1, 3


@dataclass(frozen=True)
class Leaf:
    operation: str  # query, mutation or subscription
    field: str
    path: Path  # argument name, then input field names (0: a list's item)
    type: GraphQLNamedType

    def __str__(self) -> str:
        inner = ".".join(str(part) for part in self.path)
        return f"{self.operation} {self.field}({inner}: {self.type.name})"


def roots(schema: GraphQLSchema) -> dict[str, GraphQLObjectType]:
    found = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }
    return {operation: root for operation, root in found.items() if root is not None}


def leaves(schema: GraphQLSchema, operation: str) -> list[Leaf]:
    root = roots(schema)[operation]
    found: list[Leaf] = []
    for name, field in root.fields.items():
        for argument, definition in field.args.items():
            for path, named in _walk(definition.type, (argument,)):
                found.append(Leaf(operation, name, path, named))
    return found


def _walk(type_: GraphQLInputType, path: Path) -> Iterator[tuple[Path, GraphQLNamedType]]:
    if isinstance(type_, GraphQLNonNull):
        yield from _walk(type_.of_type, path)
    elif isinstance(type_, GraphQLList):
        yield from _walk(type_.of_type, (*path, 0))
    elif isinstance(type_, GraphQLInputObjectType):
        for name, field in type_.fields.items():
            yield from _walk(field.type, (*path, name))
    else:
        yield path, get_named_type(type_)


def valid_value(type_: GraphQLNamedType, name: str, field: str, history: History) -> Any:
    """A value that the field accepts, so that only the leaf under test is bad."""
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    pets = history.pet_ids
    if type_.name == "UUID":
        if name == "petId" and field in ("recordPetArrival", "recordPetBirth"):
            return str(uuid.uuid4())
        if name in ("customerId", "correlationId", "causationId"):
            return str(uuid.uuid4())
        if name == "motherId":
            return pets[MOTHER]
        if field == "event" and name == "id":
            return history.event_ids[0]
        return pets[LOST] if field == "reportPetFound" else pets[AVAILABLE]
    return {
        "String": "Dog" if name == "species" else "Fuzz",
        "Decimal": "1.00",
        "Date": "2026-01-01",
        "DateTime": history.instants[-1] if history.instants else "2026-01-01T00:00:00+00:00",
        "Int": 1,
        "Boolean": True,
        "JSON": {},
    }.get(type_.name, "x")


def arguments(schema: GraphQLSchema, leaf: Leaf, bad: Any, history: History) -> dict[str, Any]:
    """The field's required arguments with valid values, and `bad` at the leaf."""
    field = roots(schema)[leaf.operation].fields[leaf.field]
    values: dict[str, Any] = {}
    for name, definition in field.args.items():
        if isinstance(definition.type, GraphQLNonNull) or name == leaf.path[0]:
            values[name] = _valid(definition.type, name, leaf, history, (name,))
    _put(values, leaf.path, bad)
    return values


def _valid(type_: GraphQLInputType, name: str, leaf: Leaf, history: History, path: Path) -> Any:
    if isinstance(type_, GraphQLNonNull):
        return _valid(type_.of_type, name, leaf, history, path)
    if isinstance(type_, GraphQLList):
        return [_valid(type_.of_type, name, leaf, history, (*path, 0))]
    if isinstance(type_, GraphQLInputObjectType):
        return {
            key: _valid(field.type, key, leaf, history, (*path, key))
            for key, field in type_.fields.items()
            if isinstance(field.type, GraphQLNonNull) or leaf.path[: len(path) + 1] == (*path, key)
        }
    return valid_value(get_named_type(type_), name, leaf.field, history)


def _put(container: Any, path: Path, value: Any) -> None:
    for part in path[:-1]:
        container = container[part]
    container[path[-1]] = value


def document(
    schema: GraphQLSchema, leaf: Leaf, values: dict[str, Any], *, inline: bool
) -> tuple[str, dict[str, Any] | None]:
    """The operation with `values`: as variables, or inline as literals."""
    field = roots(schema)[leaf.operation].fields[leaf.field]
    selection = select(field.type)
    if inline:
        given = ", ".join(
            f"{name}: {literal(value, field.args[name].type)}" for name, value in values.items()
        )
        return f"{leaf.operation} {{ {leaf.field}({given}) {selection} }}", None
    declared = ", ".join(f"${name}: {field.args[name].type}" for name in values)
    passed = ", ".join(f"{name}: ${name}" for name in values)
    return (
        f"{leaf.operation} Fuzz({declared}) {{ {leaf.field}({passed}) {selection} }}",
        values,
    )


def select(type_: GraphQLOutputType, depth: int = 2) -> str:
    """Every field without required arguments, `depth` objects deep."""
    named = get_named_type(type_)
    if is_leaf_type(named):
        return ""
    assert isinstance(named, GraphQLObjectType | GraphQLInterfaceType)
    parts = ["__typename"]
    for name, field in named.fields.items():
        if _needs_arguments(field):
            continue
        if is_leaf_type(get_named_type(field.type)):
            parts.append(name)
        elif depth > 0:
            parts.append(f"{name} {select(field.type, depth - 1)}")
    return "{ " + " ".join(parts) + " }"


def _needs_arguments(field: GraphQLField) -> bool:
    return any(isinstance(arg.type, GraphQLNonNull) for arg in field.args.values())


def literal(value: Any, type_: GraphQLInputType) -> str:
    """`value` as a GraphQL literal of `type_` (enum values bare, JSON objects
    as object literals)."""
    if isinstance(type_, GraphQLNonNull):
        return literal(value, type_.of_type)
    if value is None:
        return "null"
    if isinstance(type_, GraphQLList):
        items = value if isinstance(value, list) else [value]
        return "[" + ", ".join(literal(item, type_.of_type) for item in items) + "]"
    if isinstance(type_, GraphQLInputObjectType):
        return (
            "{"
            + ", ".join(
                f"{key}: {literal(item, type_.fields[key].type)}" for key, item in value.items()
            )
            + "}"
        )
    if isinstance(type_, GraphQLEnumType) and isinstance(value, str) and value.isidentifier():
        return value
    return json_literal(value)


def json_literal(value: Any) -> str:
    """Any JSON value as a GraphQL literal (object keys must be names)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {json_literal(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(json_literal(item) for item in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Raw):
        return value.literal
    if isinstance(value, str):
        # JSON's escapes are GraphQL's (\\u0000, \\ud800): the same string arrives.
        return json.dumps(value, ensure_ascii=True)
    return str(value)


@dataclass(frozen=True)
class Raw:
    """A value written as it is, in JSON and as a GraphQL literal: numbers
    Python's json refuses (ints of more than 4,300 digits) and nesting deeper
    than its encoder recurses."""

    json: str
    literal: str

    @classmethod
    def number(cls, digits: str) -> Raw:
        return cls(digits, digits)

    @classmethod
    def nested(cls, depth: int, inner: str = "1") -> Raw:
        """[{"a": [{"a": … inner}]}] `depth` levels deep."""
        levels = range(depth)
        return cls(
            "".join('{"a":' if n % 2 else "[" for n in levels)
            + inner
            + "".join("}" if n % 2 else "]" for n in reversed(levels)),
            "".join("{a: " if n % 2 else "[" for n in levels)
            + inner
            + "".join("}" if n % 2 else "]" for n in reversed(levels)),
        )


def encode(payload: Any) -> bytes:
    """JSON with every non-ASCII character escaped (a lone surrogate stays a
    \\ud800 escape: valid JSON, not valid Unicode) and Raw values verbatim."""
    raw: list[str] = []

    def placeholder(value: Any) -> str:
        if not isinstance(value, Raw):
            raise TypeError(type(value))
        raw.append(value.json)
        return f"@@raw{len(raw) - 1}@@"

    text = json.dumps(payload, ensure_ascii=True, default=placeholder)
    for index, digits in enumerate(raw):
        text = text.replace(f'"@@raw{index}@@"', digits)
    return text.encode("ascii")
