"""An operation's root fields, compiled into one statement.

A query is one SELECT without FROM whose single column is the response's
`data`: each root field a scalar subquery. A mutation is one INSERT into
the event's table (sql/0021), or, when the request needs what the event
type's append function adds (an idempotency key, a date left to its
default: AppendFunction.insertable), one call of that function (sql/0020);
its result rendered as the payload: the event, and the pet as that event
left it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLInputObjectType, GraphQLNonNull
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.utils.str_converters import to_camel_case

from graphql_petstore.api.commands import MUTATIONS
from graphql_petstore.compiled import pages
from graphql_petstore.compiled import sqltext as sql
from graphql_petstore.compiled.arguments import Bindings, Value, argument
from graphql_petstore.compiled.objects import Compiler
from graphql_petstore.compiled.selection import Fields, Unsupported
from graphql_petstore.database.appends import APPEND_FUNCTIONS, AppendFunction, Command
from graphql_petstore.database.consistency import token_sql


@dataclass(frozen=True)
class Statement:
    sql: str
    getters: list[Callable[[Bindings], Any]]
    # All the arguments at once, when that is cheaper than a getter each.
    together: Callable[[Bindings], list[Any]] | None = None

    def __post_init__(self) -> None:
        for number in range(1, len(self.getters) + 1):
            # PostgreSQL counts a statement's parameters by the ones it uses.
            assert f"${number}::" in self.sql, f"parameter ${number} is not used"

    def arguments(self, bindings: Bindings) -> list[Any]:
        if self.together is not None:
            return self.together(bindings)
        return [get(bindings) for get in self.getters]


@dataclass(frozen=True)
class Write:
    """A compiled mutation: its input, the append with its payload (through
    the append function, or as a plain INSERT when the request needs nothing
    else of the function: AppendFunction.insertable), and the payload read
    back by the event's id (when the append's connection broke and the
    outcome had to be settled)."""

    field: str  # the Mutation field, e.g. "changePetPrice"
    node: FieldNode
    response_name: str
    input: Value[Any]
    python_names: dict[str, str]  # the input's GraphQL field names -> Python names
    function: AppendFunction
    append: Statement
    insert: Statement
    settle: Statement

    def statement(self, command: Command) -> Statement:
        return self.insert if self.function.insertable(command) else self.append


def query(compiler: Compiler, fields: Fields) -> Statement:
    members = []
    for name, nodes in fields.items():
        members.append((name, _query_field(compiler, nodes)))
    return Statement(f"select {sql.json_object(members)}", compiler.params.getters)


def _query_field(compiler: Compiler, nodes: list[FieldNode]) -> str:
    name = nodes[0].name.value
    if name == "__typename":
        return sql.json_string_literal("Query")
    if name == "pet":
        return pages.pet(compiler, nodes)
    if name == "pets":
        return compiler.connection(nodes, "PetConnection", pages.pets_page(compiler, nodes))
    if name == "event":
        return pages.event(compiler, nodes)
    if name == "events":
        return compiler.connection(nodes, "PetEventConnection", pages.events_page(compiler, nodes))
    raise Unsupported(f"Query.{name}")


def mutation(compiler: Compiler, fields: Fields) -> Write:
    # Each mutation field of a document commits on its own; one statement
    # would make them commit together. Documents with one field only.
    fields = {name: nodes for name, nodes in fields.items() if nodes[0].name.value != "__typename"}
    if len(fields) != 1:
        raise Unsupported("a mutation document with other than one field")
    [(response_name, nodes)] = fields.items()
    field = nodes[0].name.value
    if field not in MUTATIONS:
        raise Unsupported(f"Mutation.{field}")
    definition = compiler.field_definition("Mutation", nodes)
    input_value = argument(definition, nodes[0], "input", compiler.sample)
    input_type = definition.args["input"].type
    if isinstance(input_type, GraphQLNonNull):
        input_type = input_type.of_type
    assert isinstance(input_type, GraphQLInputObjectType)

    event_type = MUTATIONS[field].event_type
    payload = sql.json_object([(response_name, _payload(compiler, nodes, event_type))])
    needs_pet = "p" in compiler.pet_rows
    rendered = "cross join lateral (select (r.event).*) e"
    if needs_pet:
        rendered += " cross join lateral (select (r.pet).*) p"
    function = APPEND_FUNCTIONS[event_type]
    payload_getters = list(compiler.params.getters)

    def call_argument(index: int) -> Callable[[Bindings], Any]:
        # One of the append function's arguments (a request computes them
        # all at once: `together` below).
        def get(bindings: Bindings) -> Any:
            assert bindings.command is not None
            return function.arguments(bindings.command)[index]

        return get

    call = function.call(
        lambda index, sql_type: compiler.params.add(call_argument(index), sql_type)
    )

    append = Statement(
        f"select {payload} from {call} r {rendered}",
        compiler.params.getters,
        _payload_then(payload_getters, function.arguments),
    )
    first = len(payload_getters) + 1

    def placeholder(index: int, sql_type: str) -> str:
        return f"${first + index}::{sql_type}"

    if needs_pet:
        insert = function.insert(placeholder)
        inserted = f"with appended as ({insert}) select {payload} from ({_appended_pet()}) r "
        inserted += rendered
    else:
        # The payload is the event alone: rendered by the INSERT's RETURNING
        # from the row it stored, without the composite row, the CTE and
        # the pet of the form above (pgbench appended about 7 % more per
        # second so).
        inserted = function.insert(placeholder, returning=payload)
    insert_statement = Statement(
        inserted,
        # The call's parameters are the INSERT's, then the idempotency key's two.
        compiler.params.getters[:-2],
        _payload_then(payload_getters, function.insert_arguments),
    )
    settle_getters = [
        *payload_getters,
        lambda bindings: bindings.command.event_id,
    ]
    settle = Statement(
        f"select {payload} from petstore_appended(${len(settle_getters)}::uuid) r {rendered}",
        settle_getters,
    )
    return Write(
        field,
        nodes[0],
        response_name,
        input_value,
        _python_names(input_type),
        function,
        append,
        insert_statement,
        settle,
    )


def _payload_then(
    payload_getters: list[Callable[[Bindings], Any]],
    append_arguments: Callable[[Command], list[Any]],
) -> Callable[[Bindings], list[Any]]:
    """A write statement's arguments all at once: the payload's, then the
    append's, computed together from the request's command."""

    def together(bindings: Bindings) -> list[Any]:
        assert bindings.command is not None
        head = [get(bindings) for get in payload_getters]
        return [*head, *append_arguments(bindings.command)]

    return together


def _appended_pet() -> str:
    """The appended event and the pet as it left it, for a payload rendered
    in the INSERT's own statement. That statement's snapshot predates the
    INSERT, so the AFTER trigger's write to `pets` is not in it: the pet is
    the read model's fold (pet_fold, as the trigger folds it) of the event
    over the pet as the snapshot saw it. That is the pet the trigger folded
    only when its version is the one just before the event's; a writer that
    moved the pet on between the snapshot and the INSERT's row lock makes it
    an older one, and then the statement returns no row: the event is
    stored, and strawberry renders it (compiled/http.py)."""
    return (
        "select a.event, pet_fold(b, a.event) as pet from appended a "
        "left join pets b on b.id = (a.event).pet_id "
        "where coalesce(b.version, 0) = (a.event).pet_version - 1"
    )


def _payload(compiler: Compiler, nodes: list[FieldNode], event_type: str) -> str:
    members = []
    for name, field_nodes in compiler.fields("PetEventPayload", nodes).items():
        field = field_nodes[0].name.value
        if field == "__typename":
            value = sql.json_string_literal("PetEventPayload")
        elif field == "event":
            # The event the mutation appended: of its type. The INSERT's
            # table holds no other (its trigger refuses one); a replayed
            # idempotency key names one of this type (sql/0065 refuses a key
            # whose event is of another, as the server's fingerprint does).
            value = compiler.event(field_nodes, "e", pet_row="p", only=event_type)
        elif field == "pet":
            value = compiler.pet(field_nodes, "p")
        elif field == "userErrors":
            value = "'[]'"  # a stored event has none
        elif field == "consistencyToken":
            value = sql.render_quoted(token_sql("e.id"))  # [v1.0-9a-f]: nothing to escape
        else:
            raise Unsupported(f"PetEventPayload.{field}")
        members.append((name, value))
    return sql.json_object(members)


def _python_names(input_type: GraphQLInputObjectType) -> dict[str, str]:
    definition = input_type.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
    names: dict[str, str] = {}
    for field in definition.fields:
        graphql_name = field.graphql_name or to_camel_case(field.python_name)
        if graphql_name not in input_type.fields:
            raise Unsupported(f"{input_type.name}.{graphql_name}")
        names[graphql_name] = field.python_name
    return names
