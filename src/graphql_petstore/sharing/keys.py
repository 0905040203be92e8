"""Which subscriptions may share one execution, and under what key.

Every rule of what makes two subscriptions' results necessarily the same is
here: the same document text and operation, the same variable values (but
the one that gives `events(after:)`, which says where a subscriber starts,
not what it sees), and the same caller class. The caller class is what the
server may show differently to different callers: whether, and with which
API token, the caller is authenticated (the audit fields are shown to token
holders only), and whatever else connection_init carried. Anything a
subscriber could see differently must be in the key; a subscription the
rules cannot vouch for is executed on its own, as strawberry would.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
    Visitor,
    get_operation_ast,
    parse,
    visit,
)

from graphql_petstore.api.read_routing import _root_fields
from graphql_petstore.auth import bearer_name
from graphql_petstore.database.consistency import TOKEN_INIT_KEY
from graphql_petstore.settings import Settings

# Distinct documents analysed, per process (the parser cache holds as many).
ANALYSED_DOCUMENTS = 512
# The argument of `events` that says where a subscriber starts.
START_ARGUMENT = "after"
START_FIELDS = frozenset({"events"})
# The argument that names the one pet a subscription follows.
PET_FIELDS = frozenset({"petChanged"})
PET_ARGUMENT = "id"
AUTHORIZATION_PARAMS = ("authorization", "Authorization")


@dataclass(frozen=True)
class Shape:
    """What the document says about sharing, whatever the variables."""

    # The variable that gives the start (`after: $x`), if any.
    start_variable: str | None
    # `petChanged(id:)`: the variable that names the pet, or the pet named.
    pet_variable: str | None = None
    pet_literal: str | None = None


@dataclass(frozen=True)
class Plan:
    """How one subscription is served when it is shared."""

    key: tuple[str, str | None, str, str]
    query: str
    operation_name: str | None
    # The group's variables: the subscriber's, with the start taken out.
    variables: dict[str, Any] | None
    # Whether the subscriber reads from its own start before it joins.
    catch_up: bool
    # The one pet whose events the group follows (groups indexed by pet).
    pet_id: uuid.UUID | None = None


_shapes: OrderedDict[bytes, Shape | None] = OrderedDict()


def shape_of(query: str, operation_name: str | None) -> Shape | None:
    """None: never shared (not a document with one subscription field, or a
    start written into the document as a literal)."""
    # A digest, not the text: the cache then holds a few dozen bytes per
    # document, however large the documents clients send (issue 9: caches
    # bounded in bytes).
    cache_key = hashlib.sha256(
        f"{operation_name}\0{query}".encode("utf-8", "surrogatepass")
    ).digest()
    if cache_key in _shapes:
        _shapes.move_to_end(cache_key)
        return _shapes[cache_key]
    try:
        shape = _analyse(parse(query), operation_name)
    except GraphQLError:
        shape = None  # strawberry reports it, on the subscription's own path
    _shapes[cache_key] = shape
    if len(_shapes) > ANALYSED_DOCUMENTS:
        _shapes.popitem(last=False)
    return shape


def _analyse(document: DocumentNode, operation_name: str | None) -> Shape | None:
    operation = get_operation_ast(document, operation_name)
    if not isinstance(operation, OperationDefinitionNode):
        return None
    if operation.operation is not OperationType.SUBSCRIPTION:
        return None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    fields = list(_root_fields(operation.selection_set.selections, fragments))
    if len(fields) != 1:
        return None  # invalid: strawberry says so
    (field,) = fields
    if field.name.value in PET_FIELDS:
        pet = next((a.value for a in field.arguments or () if a.name.value == PET_ARGUMENT), None)
        if isinstance(pet, VariableNode):
            return Shape(None, pet_variable=pet.name.value)
        if isinstance(pet, StringValueNode):
            return Shape(None, pet_literal=pet.value)
        return Shape(None)
    start = next((a.value for a in field.arguments or () if a.name.value == START_ARGUMENT), None)
    if field.name.value not in START_FIELDS or start is None or isinstance(start, NullValueNode):
        return Shape(None)
    if not isinstance(start, VariableNode):
        return None  # a literal start: every subscriber of it starts there
    name = start.name.value
    definition = next(
        (v for v in operation.variable_definitions or () if v.variable.name.value == name), None
    )
    if definition is None or definition.default_value is not None:
        return None
    # Taken out of the group's variables, it must say nothing but the start.
    if _uses(document, name) != 1:
        return None
    return Shape(name)


class _VariableUses(Visitor):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.count = 0

    def enter_variable_definition(self, *_: Any) -> Any:
        return Visitor.SKIP

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        if node.name.value == self.name:
            self.count += 1


def _uses(document: DocumentNode, name: str) -> int:
    visitor = _VariableUses(name)
    visit(document, visitor)
    return visitor.count


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def caller_class(context: Any, settings: Settings) -> str:
    """What a caller may be shown differently from others: the API token it
    holds (by name; an invalid one is as none), and anything else that its
    connection_init carried."""
    header = getattr(context, "authorization", None)
    params = getattr(context, "connection_params", None)
    others: dict[str, Any] = {}
    tokens = [_token(settings, header)]
    if isinstance(params, dict):
        for name, value in params.items():
            if name in AUTHORIZATION_PARAMS:
                tokens.append(_token(settings, value))
            elif name != TOKEN_INIT_KEY:  # only waited for by reads, never by a subscription
                others[name] = value
    elif params is not None:
        others[""] = params
    return canonical({"tokens": tokens, "params": others})


def _token(settings: Settings, header: Any) -> str | None:
    if not isinstance(header, str):
        return None if header is None else canonical(header)
    return bearer_name(settings, header)


def plan(
    query: Any, operation_name: Any, variables: Any, context: Any, settings: Settings
) -> Plan | None:
    """The plan of a subscription that may be shared; None: run it alone."""
    if not isinstance(query, str) or not isinstance(operation_name, str | None):
        return None
    if variables is not None and not isinstance(variables, dict):
        return None
    shape = shape_of(query, operation_name)
    if shape is None:
        return None
    group_variables = variables
    catch_up = False
    if shape.start_variable is not None:
        values = dict(variables or {})
        catch_up = values.get(shape.start_variable) is not None
        values[shape.start_variable] = None
        group_variables = values
    try:
        variables_key = canonical(group_variables or {})
    except (TypeError, ValueError):
        return None
    pet = shape.pet_literal
    if shape.pet_variable is not None:
        pet = (variables or {}).get(shape.pet_variable)
    document_key = hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()
    key = (document_key, operation_name, variables_key, caller_class(context, settings))
    return Plan(key, query, operation_name, group_variables, catch_up, _uuid(pet))


def _uuid(value: Any) -> uuid.UUID | None:
    """The pet, when it is one (else the group follows every row, and the
    schema says what is wrong with the argument)."""
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None
