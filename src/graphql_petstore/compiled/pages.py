"""The keyset pages behind the connections: pets, the event stream, and a
pet's history — the same statements as database/reads.py, with the same
checks of their arguments as the strawberry resolvers (api/queries.py).

A filter the request leaves out is left out of the SQL too: a compiled
variant is made per shape of the variables (compiled/plans.py), so each
statement names only the conditions it has, and its plan uses the index
that serves them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from graphql import FieldNode

from graphql_petstore.api import cursors
from graphql_petstore.api.context import page_size
from graphql_petstore.api.queries import require_zone
from graphql_petstore.compiled import sqltext as sql
from graphql_petstore.compiled.arguments import Value, argument
from graphql_petstore.compiled.objects import Compiler, Page

# Events become visible in stream order only below the oldest running
# transaction (design §4; database/reads.py).
_BELOW_HORIZON = "tx_id < pg_snapshot_xmin(pg_current_snapshot())"


def _arguments(compiler: Compiler, parent: str, nodes: list[FieldNode]) -> dict[str, Value[Any]]:
    definition = compiler.field_definition(parent, nodes)
    return {name: argument(definition, nodes[0], name, compiler.sample) for name in definition.args}


def _size(compiler: Compiler, first: Value[int | None]) -> str:
    settings = compiler.settings
    return compiler.integer(first.then(lambda value: page_size(value, settings)))


def _limited(table: str, alias: str, where: list[str], order: str, size: str) -> str:
    """The page's rows with their place n, at most size + 1 of them."""
    condition = f" where {' and '.join(where)}" if where else ""
    return (
        f"select {alias}.*, row_number() over (order by {order}) as n from ("
        f"select * from {table} {alias}{condition} order by {order} limit {size} + 1) {alias}"
    )


def pets_page(compiler: Compiler, nodes: list[FieldNode]) -> Page:
    args = _arguments(compiler, "Query", nodes)
    size = _size(compiler, args["first"])
    alias = compiler.alias("p")
    where: list[str] = []
    given = args["filter"]
    sample = given.sample or {}
    if sample.get("status"):
        if len(sample["status"]) == 1:
            # Equality, not any(): PostgreSQL reads pets_status_id in id order
            # then, instead of the primary key skipping the other statuses.
            status = given.then(lambda f: f["status"][0].value)
            where.append(f"{alias}.status = {compiler.param(status, 'text')}")
        else:
            statuses = given.then(lambda f: [s.value for s in f["status"]])
            where.append(f"{alias}.status = any({compiler.param(statuses, 'text[]')})")
    if sample.get("species") is not None:
        species = given.then(lambda f: f["species"])
        where.append(f"{alias}.species = {compiler.param(species, 'text')}")
    if sample.get("motherId") is not None:
        mother = given.then(lambda f: f["motherId"])
        where.append(f"{alias}.mother_id = {compiler.param(mother, 'uuid')}")
    after = args["after"]
    if after.sample is not None:
        after_id = after.then(cursors.parse_pet_cursor)
        where.append(f"{alias}.id > {compiler.param(after_id, 'uuid')}")
    return Page(
        rows=_limited("pets", alias, where, f"{alias}.id", size),
        alias=alias,
        size=size,
        has_previous=lambda: "true" if after.sample is not None else "false",
        key=f"{alias}.id::text",
        cursor=sql.render_cursor("pet"),
        node_type="Pet",
    )


def events_page(compiler: Compiler, nodes: list[FieldNode]) -> Page:
    args = _arguments(compiler, "Query", nodes)
    size = _size(compiler, args["first"])
    alias = compiler.alias("e")
    where = [f"{alias}.{_BELOW_HORIZON}"]
    has_previous: Callable[[], str] = lambda: "false"  # noqa: E731
    after = args["after"]
    if after.sample is not None:
        # "0", the beginning, is before every position: (0, 0) is too.
        position = after.then(cursors.parse_stream_cursor)
        tx = compiler.param(position.then(lambda p: "0" if p is None else str(p.tx_id)), "text")
        seq = compiler.param(position.then(lambda p: 0 if p is None else p.seq), "bigint")
        where.append(f"({alias}.tx_id, {alias}.seq) > ({tx}::xid8, {seq})")
        has_previous = functools.cache(
            lambda: compiler.param(position.then(lambda p: p is not None), "boolean")
        )
    given = args["filter"]
    sample = given.sample or {}
    if sample:
        given = given.then(_checked_event_filter)
    if sample.get("petId") is not None:
        pet = given.then(lambda f: f["petId"])
        where.append(f"{alias}.pet_id = {compiler.param(pet, 'uuid')}")
    if sample.get("types"):
        types = given.then(lambda f: [t.value for t in f["types"]])
        where.append(f"{alias}.event_type = any({compiler.param(types, 'text[]')})")
    if sample.get("since") is not None:
        since = given.then(lambda f: f["since"])
        where.append(f"{alias}.created_at >= {compiler.param(since, 'timestamptz')}")
    if sample.get("until") is not None:
        until = given.then(lambda f: f["until"])
        where.append(f"{alias}.created_at <= {compiler.param(until, 'timestamptz')}")
    return Page(
        rows=_limited("pet_event_log", alias, where, f"{alias}.tx_id, {alias}.seq", size),
        alias=alias,
        size=size,
        has_previous=has_previous,
        key=f"{alias}.tx_id::text || '.' || {alias}.seq::text",
        cursor=sql.render_cursor("stream"),
        node_type="PetEvent",
    )


def _checked_event_filter(given: dict[str, Any]) -> dict[str, Any]:
    require_zone("since", given.get("since"))
    require_zone("until", given.get("until"))
    return given


def history(compiler: Compiler, nodes: list[FieldNode], pet_row: str) -> Page:
    args = _arguments(compiler, "Pet", nodes)
    size = _size(compiler, args["first"])
    alias = compiler.alias("h")
    after = args["after"].then(
        lambda given: cursors.parse_version_cursor(given) if given is not None else 0
    )
    version = compiler.integer(after)
    where = [f"{alias}.pet_id = {pet_row}.id", f"{alias}.pet_version > {version}"]
    return Page(
        rows=_limited("pet_event_log", alias, where, f"{alias}.pet_version", size),
        alias=alias,
        size=size,
        has_previous=lambda: f"{version} > 0",
        key=f"{alias}.pet_version::text",
        cursor=sql.render_cursor("version"),
        node_type="PetEvent",
    )


def pet(compiler: Compiler, nodes: list[FieldNode]) -> str:
    """Query.pet: the pet now, or folded from its history up to asOf."""
    args = _arguments(compiler, "Query", nodes)
    pet_id = compiler.param(args["id"], "uuid")
    as_of = args["asOf"]
    if as_of.sample is None:
        return compiler.pet_by_id(nodes, pet_id)
    bound = compiler.param(as_of.then(_zoned_as_of), "timestamptz")
    alias = compiler.alias("p")
    # The same pet_fold() the triggers apply, over the prefix of the history.
    folded = (
        f"select (s.state).* from (select pet_fold_all(e order by e.pet_version) as state "
        f"from pet_event_log e where e.pet_id = {pet_id} and e.created_at <= {bound}) s"
    )
    return (
        f"(select case when {alias}.id is null then 'null' else {compiler.pet(nodes, alias)} end "
        f"from ({folded}) {alias})"
    )


def _zoned_as_of(value: Any) -> Any:
    require_zone("asOf", value)
    return value


def event(compiler: Compiler, nodes: list[FieldNode]) -> str:
    """Query.event: one event, or null."""
    args = _arguments(compiler, "Query", nodes)
    event_id = compiler.param(args["id"], "uuid")
    alias = compiler.alias("e")
    return (
        f"(select case when {alias}.id is null then 'null' else {compiler.event(nodes, alias)} "
        f"end from (select 1) one left join pet_event_log {alias} on {alias}.id = {event_id})"
    )
