"""Which fields a selection set asks of an object of one concrete type.

GraphQL's CollectFields (spec §6.3.2): fields in document order, grouped by
response name; fragments spread once each; inline fragments and fragment
spreads only where their type condition applies; @skip and @include decided
by the request's variables. graphql-core has this, but as an internal of its
executor whose signature changes between releases; the compiler needs only
this small part of it, so it has its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
)

# response name -> the field nodes that answer it (more than one when the
# document asks for the same field twice; their selections merge).
Fields = dict[str, list[FieldNode]]


class Unsupported(Exception):
    """The compiler does not handle this document: strawberry's executor does."""


def collect(
    schema: GraphQLSchema,
    runtime_type: GraphQLObjectType,
    selection_sets: list[SelectionSetNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> Fields:
    fields: Fields = {}
    visited: set[str] = set()
    for selection_set in selection_sets:
        _collect(schema, runtime_type, selection_set, fragments, variables, fields, visited)
    return fields


def subselections(nodes: list[FieldNode]) -> list[SelectionSetNode]:
    return [node.selection_set for node in nodes if node.selection_set is not None]


def _collect(
    schema: GraphQLSchema,
    runtime_type: GraphQLObjectType,
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    fields: Fields,
    visited: set[str],
) -> None:
    for selection in selection_set.selections:
        if not _included(selection, variables):
            continue
        if isinstance(selection, FieldNode):
            name = selection.alias.value if selection.alias else selection.name.value
            fields.setdefault(name, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is None or _applies(schema, condition.name.value, runtime_type):
                _collect(
                    schema,
                    runtime_type,
                    selection.selection_set,
                    fragments,
                    variables,
                    fields,
                    visited,
                )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in visited:
                continue
            visited.add(name)
            fragment = fragments.get(name)
            if fragment is None or not _applies(
                schema, fragment.type_condition.name.value, runtime_type
            ):
                continue
            _collect(
                schema, runtime_type, fragment.selection_set, fragments, variables, fields, visited
            )


def _applies(schema: GraphQLSchema, condition: str, runtime_type: GraphQLObjectType) -> bool:
    if condition == runtime_type.name:
        return True
    abstract = schema.get_type(condition)
    return abstract is not None and schema.is_sub_type(abstract, runtime_type)  # type: ignore[arg-type]


def _included(node: Any, variables: Mapping[str, Any]) -> bool:
    for directive in node.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            if name in ("defer", "stream"):
                raise Unsupported(f"@{name}")
            continue
        value = _condition(directive.arguments, variables)
        if (name == "skip" and value) or (name == "include" and not value):
            return False
    return True


def _condition(arguments: Any, variables: Mapping[str, Any]) -> bool:
    for argument in arguments or ():
        if argument.name.value != "if":
            continue
        node = argument.value
        if isinstance(node, VariableNode):
            value = variables.get(node.name.value)
            if not isinstance(value, bool):
                raise Unsupported("a directive condition that is not a Boolean")
            return value
        return bool(getattr(node, "value", False))
    raise Unsupported("a directive without its `if`")
