"""The compiled path's shortcuts through graphql-core's value handling give
graphql-core's answers: variables coerced by a plan's signatures
(compiled/variables.py) and argument values read by a reader made once
(compiled/arguments.py), on this server's schema, for plain values and for
every unusual one (left out, null, wrong type, defaults)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from graphql import OperationDefinitionNode, Undefined, parse, value_from_ast
from graphql.execution.values import get_variable_values

from graphql_petstore.api.schema import create_schema
from graphql_petstore.compiled import arguments, variables
from graphql_petstore.settings import Settings

SCHEMA = create_schema(Settings())._schema
PET = "0190a0e0-0000-7000-8000-000000000001"

VARIABLES = """
query(
  $id: UUID!, $asOf: DateTime, $first: Int, $after: String,
  $status: [PetStatus!], $species: String, $include: Boolean!
) { pet(id: $id) { id } }
"""
GIVEN: list[dict[str, Any]] = [
    {"id": PET, "include": True},
    {"id": PET, "include": False, "first": 3, "after": "x", "status": ["AVAILABLE", "SOLD"]},
    {"id": PET, "include": True, "status": "LOST"},  # a single value for a list
    {"id": PET, "include": True, "asOf": "2024-05-01T10:00:00+02:00", "species": None},
    {"id": PET, "include": True, "first": None, "unused": 1},
    # Each of these is an error, reported by graphql-core.
    {"include": True},
    {"id": None, "include": True},
    {"id": "not a uuid", "include": True},
    {"id": PET, "include": True, "first": "three"},
    {"id": PET, "include": True, "status": ["GONE"]},
    {"id": PET, "include": True, "asOf": "yesterday"},
    {"id": PET, "include": True, "species": "a\x00b"},  # the input guards' refusal
]


def _operation(text: str) -> OperationDefinitionNode:
    [operation] = parse(text).definitions
    assert isinstance(operation, OperationDefinitionNode)
    return operation


def _errors(result: Any) -> Any:
    return [error.formatted for error in result] if isinstance(result, list) else result


@pytest.mark.parametrize("given", GIVEN)
def test_plain_variables_are_coerced_as_graphql_core_coerces_them(given: dict[str, Any]) -> None:
    definitions = _operation(VARIABLES).variable_definitions
    plain = variables.signatures(SCHEMA, definitions)
    assert plain is not None, "every variable here is plain"
    expected = get_variable_values(SCHEMA, definitions, given)
    expected = expected if isinstance(expected, list) else expected.coerced
    assert _errors(variables.coerce(SCHEMA, definitions, plain, given)) == _errors(expected)


def test_defaults_and_input_objects_with_defaults_go_to_graphql_core() -> None:
    with_default = _operation("query($first: Int = 5) { pets(first: $first) { nodes { id } } }")
    assert variables.signatures(SCHEMA, with_default.variable_definitions) is None
    assert variables.coerce(SCHEMA, with_default.variable_definitions, None, {}) == {"first": 5}
    # An input object (the fields' defaults are graphql-core's to fill in).
    objects = _operation(
        "mutation($input: ChangePetPriceInput!) { changePetPrice(input: $input) { __typename } }"
    )
    plain = variables.signatures(SCHEMA, objects.variable_definitions)
    given = {"input": {"petId": PET, "newPrice": "12.50"}}
    coerced = variables.coerce(SCHEMA, objects.variable_definitions, plain, given)
    expected = get_variable_values(SCHEMA, objects.variable_definitions, given)
    assert not isinstance(expected, list)
    assert coerced == expected.coerced
    assert isinstance(coerced, dict)
    assert coerced["input"]["newPrice"] == Decimal("12.50")
    assert coerced["input"]["metadata"] is None  # a field's default, filled in


ARGUMENT = (
    "mutation($id: UUID!, $price: Decimal!, $key: String) "
    "{{ changePetPrice(input: {}) {{ __typename }} }}"
)
INPUTS = [
    "{petId: $id, newPrice: $price}",
    '{petId: $id, newPrice: $price, idempotencyKey: $key, metadata: {a: [1, "b"]}}',
    '{petId: $id, newPrice: "3.00", expectedVersion: 2}',
    "{petId: $id, newPrice: $price, idempotencyKey: null}",
]
REQUESTS: list[dict[str, Any]] = [
    {"id": PET, "price": Decimal("1.00")},
    {"id": PET, "price": Decimal("1.00"), "key": "k"},
    {"id": PET, "price": Decimal("1.00"), "key": None},
    {"id": PET},  # a non-null variable left out: the input is not valid
    {"id": None, "price": Decimal("1.00")},  # null for a non-null field
    {},
]


@pytest.mark.parametrize("given", INPUTS)
@pytest.mark.parametrize("request_variables", REQUESTS)
def test_an_argument_with_variables_is_read_as_value_from_ast_reads_it(
    given: str, request_variables: dict[str, Any]
) -> None:
    operation = _operation(ARGUMENT.format(given))
    [field] = operation.selection_set.selections
    [argument] = field.arguments  # type: ignore[attr-defined]
    type_ = SCHEMA.mutation_type.fields["changePetPrice"].args["input"].type  # type: ignore[union-attr]
    read = arguments._reader(argument.value, type_)
    expected = value_from_ast(argument.value, type_, request_variables)
    assert read(request_variables) == expected
    assert (read(request_variables) is Undefined) == (expected is Undefined)
