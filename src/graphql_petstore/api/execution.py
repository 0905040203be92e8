"""The executor: graphql-core's, with a short path for plain leaf fields.

A page of 50 pets is about 350 fields, and 300 of them are scalars read
straight off an attribute (`id`, `name`, `price`, …). graphql-core runs each of
those through the full field machinery: a Path, a ResolveInfo, strawberry's
resolver wrapper, two awaitable checks and a recursive completion. That is
most of the CPU a page costs. Here such a field is read and coerced directly:
the same attribute, the same scalar's coerce_output_value, so the response is
the same to the byte.

Everything else takes graphql-core's own path: fields with resolvers or
arguments, objects, lists, and any leaf whose value is unusual (null where
the schema says non-null, or a value the scalar refuses), so that errors are
reported exactly as graphql-core reports them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField


class _Leaf(NamedTuple):
    response_name: str
    attribute: str
    coerce: Callable[[Any], Any]
    nullable: bool


class _Plan(NamedTuple):
    leaves: list[_Leaf]
    # The remaining fields, for graphql-core's path; None when there are none.
    others: GroupedFieldSet | None
    order: list[str]
    # Held so that the id() this plan is memoised under is not reused.
    grouped_field_set: GroupedFieldSet


class _Unusual(Exception):
    """A leaf that graphql-core must complete (and report) itself."""


class PetstoreExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One execution (one request) resolves the same selection for every
        # item of a list: the plan is made once per selection and type.
        self._plans: dict[tuple[GraphQLObjectType, int], _Plan] = {}

    def build_per_event_executor(self, payload: Any) -> PetstoreExecutor:
        executor = super().build_per_event_executor(payload)
        assert isinstance(executor, PetstoreExecutor)
        # graphql-core copies the subscription's executor for each event, and
        # the copy shares its memo of collected sub-fields. Each event collects
        # its root fields anew, so each would add memo entries (and plans) that
        # are never read again, and a subscription would keep them all, about
        # 2 KB per event. Each event starts with empty memos instead.
        executor._plans = {}
        executor._relevant_sub_fields = {}
        return executor

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        plan = self._plans.get((parent_type, id(grouped_field_set)))
        if plan is None:
            plan = self._plan(parent_type, grouped_field_set)
        if not plan.leaves:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        try:
            leaves = _read_leaves(plan.leaves, source_value)
        except _Unusual:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        if plan.others is None:
            return leaves
        others = super().execute_fields(
            parent_type, source_value, path, plan.others, position_context
        )
        if isinstance(others, dict):
            return _merge(plan.order, leaves, others)
        return _merge_later(plan.order, leaves, others)

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> _Plan:
        leaves: list[_Leaf] = []
        others: GroupedFieldSet = {}
        # A resolve middleware (an extension's resolve hook) sees every field.
        middleware = self.middleware_manager
        wrapped = middleware is not None and bool(middleware.middlewares)
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            field_def = parent_type.fields.get(node.name.value)
            leaf = None
            if field_def is not None and not node.arguments and not wrapped:
                leaf = _leaf(response_name, field_def)
            if leaf is None:
                others[response_name] = field_details_list
            else:
                leaves.append(leaf)
        plan = _Plan(leaves, others or None, list(grouped_field_set), grouped_field_set)
        self._plans[(parent_type, id(grouped_field_set))] = plan
        return plan


def _leaf(response_name: str, field_def: GraphQLField) -> _Leaf | None:
    """How to read a field that is a scalar or enum attribute with no resolver."""
    definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
        return None
    if definition.default_resolver is not getattr or field_def.args:
        return None
    output = field_def.type
    nullable = not isinstance(output, GraphQLNonNull)
    named = output.of_type if isinstance(output, GraphQLNonNull) else output
    if not isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return None
    return _Leaf(response_name, definition.python_name, named.coerce_output_value, nullable)


def _read_leaves(leaves: list[_Leaf], source: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for leaf in leaves:
        try:
            value = getattr(source, leaf.attribute)
            if value is None:
                if not leaf.nullable:
                    raise _Unusual
                values[leaf.response_name] = None
                continue
            coerced = leaf.coerce(value)
        except Exception:
            # A missing attribute, a null for a non-null field, a value the
            # scalar refuses: graphql-core reports it, with its path.
            raise _Unusual from None
        if coerced is None or coerced is Undefined:
            raise _Unusual
        values[leaf.response_name] = coerced
    return values


def _merge(order: list[str], leaves: dict[str, Any], others: dict[str, Any]) -> dict[str, Any]:
    # In the order of the selection, as the response must be; a field that
    # graphql-core left out (not in the schema) stays out.
    merged: dict[str, Any] = {}
    for name in order:
        if name in leaves:
            merged[name] = leaves[name]
        elif name in others:
            merged[name] = others[name]
    return merged


async def _merge_later(
    order: list[str], leaves: dict[str, Any], others: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    return _merge(order, leaves, await others)
