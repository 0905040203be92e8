"""Pets, events and their connections, as SQL that builds their JSON.

Each object is rendered from a row alias: a Pet from a row of `pets` (or of
its type, as a fold returns it), an event from a row of `pet_event_log`. Its
fields are that row's columns through the scalars' renderers (sqltext), in
the order the selection asks; its relations are correlated subqueries —
`mother` a left join on the mother's id, `offspring` an aggregate over the
children, `history` a keyset page of the pet's events — so one statement
answers a selection however deeply it nests, with an index lookup per
relation and row.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
)

from graphql_petstore.api.types import EVENT_CLASSES, EventType, PetStatus
from graphql_petstore.compiled import sqltext as sql
from graphql_petstore.compiled.arguments import Bindings, Value
from graphql_petstore.compiled.selection import Fields, Unsupported, collect, subselections
from graphql_petstore.settings import Settings

Renderer = Callable[[str], str]


@dataclass(frozen=True)
class Column:
    name: str
    render: Renderer


PET_COLUMNS: dict[str, Column] = {
    "id": Column("id", sql.render_quoted),
    "name": Column("name", sql.render_string),
    "species": Column("species", sql.render_string),
    "price": Column("current_price", sql.render_quoted),
    "status": Column("status", sql.render_enum(s.value for s in PetStatus)),
    "customerId": Column("customer_id", sql.render_quoted),
    "motherId": Column("mother_id", sql.render_quoted),
    "version": Column("version", sql.render_int),
    "lastEventId": Column("last_event_id", sql.render_quoted),
    "createdAt": Column("created_at", sql.render_datetime),
    "updatedAt": Column("updated_at", sql.render_datetime),
}

EVENT_COLUMNS: dict[str, Column] = {
    "id": Column("id", sql.render_quoted),
    "type": Column("event_type", sql.render_enum(t.value for t in EventType)),
    "petId": Column("pet_id", sql.render_quoted),
    "createdAt": Column("created_at", sql.render_datetime),
    "petVersion": Column("pet_version", sql.render_int),
    # The payloads of the six types (pet_event_log has them all).
    "name": Column("name", sql.render_string),
    "species": Column("species", sql.render_string),
    "price": Column("price", sql.render_quoted),
    "motherId": Column("mother_id", sql.render_quoted),
    "customerId": Column("customer_id", sql.render_quoted),
    "salePrice": Column("sale_price", sql.render_quoted),
    "oldPrice": Column("old_price", sql.render_quoted),
    "newPrice": Column("new_price", sql.render_quoted),
    "lostDate": Column("lost_date", sql.render_date),
    "lastSeenLocation": Column("last_seen_location", sql.render_string),
    "foundDate": Column("found_date", sql.render_date),
    "foundLocation": Column("found_location", sql.render_string),
}

# event_type -> the GraphQL object type that an event of it is.
EVENT_TYPE_NAMES: dict[str, str] = {
    event_type: cls.__strawberry_definition__.name  # type: ignore[attr-defined]
    for event_type, (cls, _) in EVENT_CLASSES.items()
}

_CANONICAL_UUID = "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"


@dataclass(frozen=True)
class Page:
    """A keyset page, ready to render as a connection: `rows` selects the
    page's rows (at most size + 1, the last only telling that there is a
    next page) with their place `n`, under `alias`."""

    rows: str
    alias: str
    size: str  # SQL of the page size
    # SQL of a boolean; a parameter is made only when the selection asks.
    has_previous: Callable[[], str]
    key: str  # SQL of the text a row's cursor encodes, over the alias
    cursor: Renderer  # that text -> the cursor's JSON text
    node_type: str  # "Pet" or "PetEvent"


class Compiler:
    """Compiles the selections of one document variant into SQL, gathering
    the statement's parameters on the way."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        sample: Bindings,
        settings: Settings,
        *,
        writing: bool = False,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.sample = sample
        self.settings = settings
        self.params = sql.Params()
        # In a mutation's payload the statement's snapshot predates the
        # append (see compiled/writes.py): relations would read the store as
        # it was before the event, so they are left to strawberry.
        self.writing = writing
        self._aliases = itertools.count(1)
        self._audit: str | None = None
        # The rows rendered as a Pet: whether a mutation's payload needs the pet.
        self.pet_rows: set[str] = set()

    def alias(self, prefix: str) -> str:
        return f"{prefix}{next(self._aliases)}"

    def object_type(self, name: str) -> GraphQLObjectType:
        found = self.schema.get_type(name)
        assert isinstance(found, GraphQLObjectType), name
        return found

    def fields(self, type_name: str, nodes: list[FieldNode]) -> Fields:
        return collect(
            self.schema,
            self.object_type(type_name),
            subselections(nodes),
            self.fragments,
            self.sample.variables,
        )

    def param(self, value: Value[Any], sql_type: str) -> str:
        return self.params.add(value.get, sql_type)

    def integer(self, value: Value[int]) -> str:
        """An integer that the document gives as a literal (or leaves to its
        default) is written into the statement; one from a variable is a
        parameter. PostgreSQL plans a prepared statement anew for each
        execution while its generic plan looks dearer than the custom ones,
        and with a parameter in LIMIT it always does (it costs the generic
        plan for an unknown LIMIT): for a nested page that planning took as
        long as running it. Page sizes and history cursors are the integers
        here; they are checked (page_size, the cursor's parser) before they
        get here, and an int renders as an integer literal, nothing else."""
        if value.constant and type(value.sample) is int:
            return f"{value.sample}::integer"
        return self.param(value, "integer")

    def audit(self, rendered: str) -> str:
        """An audit field: null unless the request's caller has a token (one
        parameter per statement, so both kinds of caller share it)."""
        if self._audit is None:
            self._audit = self.params.add(lambda bindings: bindings.audit, "boolean")
        return f"(case when {self._audit} then {rendered} else 'null' end)"

    def field_definition(self, type_name: str, nodes: list[FieldNode]) -> GraphQLField:
        field: GraphQLField | None = self.object_type(type_name).fields.get(nodes[0].name.value)
        if field is None:
            raise Unsupported(f"{type_name}.{nodes[0].name.value}")
        return field

    # --- scalars -----------------------------------------------------------

    def column(self, definition: GraphQLField, column: Column, row: str) -> str:
        value = f"{row}.{column.name}"
        rendered = column.render(value)
        if isinstance(definition.type, GraphQLNonNull):
            return rendered
        return sql.nullable(rendered, value)

    # --- pets ----------------------------------------------------------------

    def pet(self, nodes: list[FieldNode], row: str) -> str:
        self.pet_rows.add(row)
        members = []
        for name, field_nodes in self.fields("Pet", nodes).items():
            members.append((name, self.pet_field(field_nodes, row)))
        return sql.json_object(members)

    def pet_field(self, nodes: list[FieldNode], row: str) -> str:
        name = nodes[0].name.value
        if name == "__typename":
            return sql.json_string_literal("Pet")
        definition = self.field_definition("Pet", nodes)
        if name in PET_COLUMNS:
            return self.column(definition, PET_COLUMNS[name], row)
        if self.writing:
            raise Unsupported(f"Pet.{name} in a mutation's payload")
        if name == "mother":
            return self.pet_by_id(nodes, f"{row}.mother_id")
        if name == "offspring":
            return self.offspring(nodes, row)
        if name == "history":
            from graphql_petstore.compiled.pages import history

            return self.connection(nodes, "PetEventConnection", history(self, nodes, row))
        raise Unsupported(f"Pet.{name}")

    def pet_by_id(self, nodes: list[FieldNode], pet_id: str) -> str:
        """A nullable Pet: the pet with this id, or null."""
        alias = self.alias("p")
        return (
            f"(select case when {alias}.id is null then 'null' else {self.pet(nodes, alias)} end "
            f"from (select 1) one left join pets {alias} on {alias}.id = {pet_id})"
        )

    def offspring(self, nodes: list[FieldNode], row: str) -> str:
        alias = self.alias("c")
        return (
            f"(select {sql.json_list('j', 'k')} from ("
            f"select {alias}.id as k, {self.pet(nodes, alias)} as j "
            f"from pets {alias} where {alias}.mother_id = {row}.id offset 0) {alias})"
        )

    # --- events --------------------------------------------------------------

    def event(
        self, nodes: list[FieldNode], row: str, pet_row: str | None = None, only: str | None = None
    ) -> str:
        """A PetEvent (the interface): each event rendered as its own type.
        `pet_row`: the row that `pet` renders (a mutation's payload), else
        `pet` reads the pet as it is now. `only`: the event type that the
        row is known to hold (a mutation's), rendered without the others."""
        if only is not None:
            return self._event_of_type(only, nodes, row, pet_row)
        cases = [
            f"when {sql.literal(event_type)} then "
            + self._event_of_type(event_type, nodes, row, pet_row)
            for event_type in EVENT_TYPE_NAMES
        ]
        return f"(case {row}.event_type {' '.join(cases)} end)"

    def _event_of_type(
        self, event_type: str, nodes: list[FieldNode], row: str, pet_row: str | None
    ) -> str:
        type_name = EVENT_TYPE_NAMES[event_type]
        members = []
        for name, field_nodes in self.fields(type_name, nodes).items():
            if field_nodes[0].name.value == "type":
                # Known for this type: no need to look at the column.
                members.append((name, sql.json_string_literal(event_type)))
                continue
            members.append((name, self.event_field(type_name, field_nodes, row, pet_row)))
        return sql.json_object(members)

    def event_field(
        self, type_name: str, nodes: list[FieldNode], row: str, pet_row: str | None
    ) -> str:
        name = nodes[0].name.value
        if name == "__typename":
            return sql.json_string_literal(type_name)
        definition = self.field_definition(type_name, nodes)
        if name in EVENT_COLUMNS:
            return self.column(definition, EVENT_COLUMNS[name], row)
        if name == "cursor":
            position = f"{row}.tx_id::text || '.' || {row}.seq::text"
            return sql.render_cursor("stream")(position)
        if name == "metadata":
            return self.audit(self.column(definition, Column("metadata", sql.render_json), row))
        if name in ("actor", "requestId"):
            return self.audit(_metadata_text(row, name))
        if name in ("correlationId", "causationId"):
            return _metadata_uuid(row, name)
        if name == "pet":
            if pet_row is not None:
                return self.pet(nodes, pet_row)
            if self.writing:
                raise Unsupported("PetEvent.pet in a mutation's payload")
            return self.pet_by_id(nodes, f"{row}.pet_id")
        raise Unsupported(f"{type_name}.{name}")

    # --- connections -----------------------------------------------------------

    def connection(self, nodes: list[FieldNode], type_name: str, page: Page) -> str:
        """PetConnection or PetEventConnection over a page: every per-row
        value (an edge, a node) is one column of the rows subquery, each
        aggregated once into the connection's JSON."""
        columns: list[str] = []
        members: list[tuple[str, str]] = []
        within = f"n <= {page.size}"
        for name, field_nodes in self.fields(type_name, nodes).items():
            field_name = field_nodes[0].name.value
            if field_name == "__typename":
                members.append((name, sql.json_string_literal(type_name)))
            elif field_name in ("edges", "nodes"):
                item = (
                    self.edge(field_nodes, type_name, page)
                    if field_name == "edges"
                    else self.node(field_nodes, page)
                )
                column = f"j{len(columns)}"
                columns.append(f"case when {within} then {item} end as {column}")
                members.append((name, sql.json_list(column, "n", filter_sql=within)))
            elif field_name == "pageInfo":
                members.append((name, self.page_info(field_nodes, page)))
            else:
                raise Unsupported(f"{type_name}.{field_name}")
        outer = self.alias("rows")
        # The cursors of the first and last edge are made from their keys
        # once, not one for every row.
        selected = ", ".join(["n", f"{page.key} as k", *columns])
        # offset 0 keeps the planner from merging this subquery into the
        # aggregate above, which would compute each row's JSON (and its
        # relations' subqueries) once for every aggregate that reads it.
        return (
            f"(select {sql.json_object(members)} from ("
            f"select {selected} from ({page.rows}) {page.alias} offset 0) {outer})"
        )

    def node(self, nodes: list[FieldNode], page: Page) -> str:
        if page.node_type == "Pet":
            return self.pet(nodes, page.alias)
        return self.event(nodes, page.alias)

    def edge(self, nodes: list[FieldNode], connection_type: str, page: Page) -> str:
        edge_type = "PetEdge" if connection_type == "PetConnection" else "PetEventEdge"
        members = []
        for name, field_nodes in self.fields(edge_type, nodes).items():
            field_name = field_nodes[0].name.value
            if field_name == "__typename":
                members.append((name, sql.json_string_literal(edge_type)))
            elif field_name == "cursor":
                members.append((name, page.cursor(page.key)))
            elif field_name == "node":
                members.append((name, self.node(field_nodes, page)))
            else:
                raise Unsupported(f"{edge_type}.{field_name}")
        return sql.json_object(members)

    def page_info(self, nodes: list[FieldNode], page: Page) -> str:
        within = f"n <= {page.size}"
        members = []
        for name, field_nodes in self.fields("PageInfo", nodes).items():
            field_name = field_nodes[0].name.value
            if field_name == "__typename":
                value = sql.json_string_literal("PageInfo")
            elif field_name == "hasNextPage":
                value = f"(case when count(*) > {page.size} then 'true' else 'false' end)"
            elif field_name == "hasPreviousPage":
                value = f"(case when {page.has_previous()} then 'true' else 'false' end)"
            elif field_name in ("startCursor", "endCursor"):
                order = "n" if field_name == "startCursor" else "n desc"
                key = f"(array_agg(k order by {order}) filter (where {within}))[1]"
                value = f"coalesce({page.cursor(key)}, 'null')"
            else:
                raise Unsupported(f"PageInfo.{field_name}")
            members.append((name, value))
        return sql.json_object(members)


def _metadata_text(row: str, key: str) -> str:
    # PetEvent.actor and requestId: the metadata's string, else null.
    found = f"{row}.metadata -> {sql.literal(key)}"
    return (
        f"(case when jsonb_typeof({found}) = 'string' "
        f"then to_json({row}.metadata ->> {sql.literal(key)})::text else 'null' end)"
    )


def _metadata_uuid(row: str, key: str) -> str:
    # PetEvent.correlationId and causationId: uuid.UUID() of the metadata's
    # string. The server stores them in canonical form; any other string
    # (hand-written SQL) is left to strawberry, which parses it as Python does.
    text = f"({row}.metadata ->> {sql.literal(key)})"
    return (
        f"(case when jsonb_typeof({row}.metadata -> {sql.literal(key)}) "
        f"is distinct from 'string' then 'null' "
        f"when {text} ~ {_CANONICAL_UUID} then '\"' || {text} || '\"' end)"
    )
