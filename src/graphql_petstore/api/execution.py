"""The executor: graphql-core's, with a short path for plain data.

A page of 50 pets is about 350 fields, and nearly all of them only read an
attribute: `edges`, `node`, `id`, `name`, `price`, … graphql-core runs each
through the full field machinery: a Path, a ResolveInfo, strawberry's resolver
wrapper, awaitable checks and a recursive completion, and for a list, several
calls more per item. That is most of the CPU a page costs.

Here, a field is *plain* when strawberry reads it straight off an attribute
(no resolver, no arguments, no directives but @skip and @include) and its
type is a scalar, an enum, a concrete object type whose selection is all plain
too, or a list of those; __typename of an object type is plain as well. Plain
fields are read by one tight recursive function, with the same attribute
reads and the same scalars' coerce_output_value, so the response is the same
to the byte.

Everything else takes graphql-core's own path: fields with resolvers, abstract
types, and any value that is unusual (a null where the schema says non-null,
a value a scalar refuses, a missing attribute). For those the selection is
run again by graphql-core, which reports the error exactly as it would have;
reading plain data has no side effects, so reading it twice is harmless.

Which fields a selection holds, and so its plan, follows from the document
alone unless @skip or @include take a variable somewhere in it. Plans of such
documents are kept across requests (the parser cache hands every request of
one query text the same nodes); the others are planned per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from graphql import (
    BREAK,
    DirectiveNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    Node,
    OperationDefinitionNode,
    Undefined,
    VariableNode,
    Visitor,
    visit,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from graphql_petstore.api.document_cache import BYTES_PER_DOCUMENT_CHARACTER
from graphql_petstore.caches import BoundedCache

# Directives that are spent when fields are collected; any other (@defer,
# @stream, custom ones) leaves the field to graphql-core.
_COLLECTION_DIRECTIVES = frozenset({"skip", "include"})
# Plans kept across requests, and operations whose fields depend on variables;
# bounded in bytes too: both hold nodes of the document, and a node holds the
# whole document (its location's source). Each entry is charged its
# document's size, as the other document caches are (api/document_cache.py).
SHARED_PLANS = 4096
KNOWN_OPERATIONS = 1024
SHARED_PLAN_BYTES = 32 * 1024 * 1024
KNOWN_OPERATION_BYTES = 32 * 1024 * 1024


class _Unusual(Exception):
    """A value that graphql-core must complete (and report) itself."""


# How a plain field's value (never None here) becomes its part of the response.


class _Scalar(NamedTuple):
    coerce: Callable[[Any], Any]

    def complete(self, value: Any) -> Any:
        coerced = self.coerce(value)
        if coerced is None or coerced is Undefined:
            raise _Unusual
        return coerced


class _Constant(NamedTuple):
    value: str  # __typename: the object type's name, whatever the value

    def complete(self, value: Any) -> Any:
        return self.value


class _Object(NamedTuple):
    plan: _Plan  # its selection, all plain

    def complete(self, value: Any) -> Any:
        return _read(self.plan, value)


class _List(NamedTuple):
    item: _Shape
    item_nullable: bool

    def complete(self, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _Unusual  # graphql-core takes any iterable, and says so if it is not
        items: list[Any] = []
        for item in value:
            if item is not None:
                items.append(self.item.complete(item))
            elif self.item_nullable:
                items.append(None)
            else:
                raise _Unusual
        return items


_Shape = _Scalar | _Constant | _Object | _List


class _Plain(NamedTuple):
    response_name: str
    attribute: str
    nullable: bool
    shape: _Shape


class _Plan(NamedTuple):
    plain: list[_Plain]
    # The other fields, for graphql-core's path; None when there are none.
    others: GroupedFieldSet | None
    order: list[str]
    # Held so that the id() this plan is memoised under is not reused.
    grouped_field_set: GroupedFieldSet


# Keys hold the ids of field nodes; the plans hold the nodes, so that an id is
# not reused while its plan is kept.
_shared_plans: BoundedCache[tuple[GraphQLObjectType, tuple[int, ...]], _Plan] = BoundedCache(
    SHARED_PLANS, SHARED_PLAN_BYTES
)
# id(operation) -> (the operation, kept so its id is not reused; whether
# @skip or @include take a variable in it or in a fragment).
_operations: BoundedCache[int, tuple[OperationDefinitionNode, bool]] = BoundedCache(
    KNOWN_OPERATIONS, KNOWN_OPERATION_BYTES
)


class PetstoreExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One execution (one request) resolves the same selection for every
        # item of a list: the plan is made once per selection and type, and
        # kept across requests when the document alone decides the selection.
        self._plans: dict[tuple[GraphQLObjectType, int], _Plan] = {}
        self._shared = not self._collection_takes_variables()
        middleware = self.middleware_manager
        self._wrapped = middleware is not None and bool(middleware.middlewares)

    def _collection_takes_variables(self) -> bool:
        known = _operations.get(id(self.operation))
        if known is not None and known[0] is self.operation:
            return known[1]
        nodes: list[Node] = [self.operation, *self.fragment_definitions.values()]
        takes = any(_takes_variables(node) for node in nodes)
        _operations.put(id(self.operation), (self.operation, takes), self._document_bytes())
        return takes

    def _document_bytes(self) -> int:
        loc = self.operation.loc
        return 0 if loc is None else len(loc.source.body) * BYTES_PER_DOCUMENT_CHARACTER

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
        if self._wrapped:
            # A resolve middleware (an extension's resolve hook) must see every field.
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        plan = self._plan(parent_type, grouped_field_set)
        if not plan.plain:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        try:
            plain: dict[str, Any] | None = _read(plan, source_value)
        except Exception:
            plain = None
        if plain is None:
            # Something unusual in the plain data: graphql-core runs this
            # selection and reports it, with its path (outside the except
            # block, so that its errors do not carry ours as their context).
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        if plan.others is None:
            return plain
        others = super().execute_fields(
            parent_type, source_value, path, plan.others, position_context
        )
        if isinstance(others, dict):
            return _merge(plan.order, plain, others)
        return _merge_later(plan.order, plain, others)

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> _Plan:
        # Each item of a list comes here with the same selection: one lookup.
        key = (parent_type, id(grouped_field_set))
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        shared_key = self._shared_key(parent_type, grouped_field_set)
        if shared_key is not None:
            plan = _shared_plans.get(shared_key)
            if plan is not None:
                self._plans[key] = plan._replace(grouped_field_set=grouped_field_set)
                return plan
        plain: list[_Plain] = []
        others: GroupedFieldSet = {}
        for response_name, field_details_list in grouped_field_set.items():
            field = self._plain(parent_type, response_name, field_details_list)
            if field is None:
                others[response_name] = field_details_list
            else:
                plain.append(field)
        plan = _Plan(plain, others or None, list(grouped_field_set), grouped_field_set)
        if shared_key is not None:
            _shared_plans.put(shared_key, plan, self._document_bytes())
        self._plans[key] = plan
        return plan

    def _shared_key(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> tuple[GraphQLObjectType, tuple[int, ...]] | None:
        if not self._shared:
            return None
        ids = []
        for field_details_list in grouped_field_set.values():
            for details in field_details_list:
                if details.fragment_variable_values is not None:
                    return None
                ids.append(id(details.node))
        return parent_type, tuple(ids)

    def _plain(
        self,
        parent_type: GraphQLObjectType,
        response_name: str,
        field_details_list: FieldDetailsList,
    ) -> _Plain | None:
        nodes = [details.node for details in field_details_list]
        if any(node.arguments or _has_other_directives(node) for node in nodes):
            return None
        field_name = nodes[0].name.value
        if field_name == "__typename":
            # Reads an attribute that every value has, and answers the name.
            return _Plain(response_name, "__class__", False, _Constant(parent_type.name))
        field_def = parent_type.fields.get(field_name)
        if field_def is None:
            return None
        definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
        if not isinstance(definition, StrawberryField) or not definition.is_basic_field:
            return None
        if definition.default_resolver is not getattr or field_def.args:
            return None
        shaped = self._shape(field_def.type, field_details_list)
        if shaped is None:
            return None
        shape, nullable = shaped
        return _Plain(response_name, definition.python_name, nullable, shape)

    def _shape(
        self, output: GraphQLOutputType, field_details_list: FieldDetailsList
    ) -> tuple[_Shape, bool] | None:
        """How to complete a value of this type as plain data, and whether
        it may be null; None when graphql-core must complete it."""
        nullable = not isinstance(output, GraphQLNonNull)
        named = output.of_type if isinstance(output, GraphQLNonNull) else output
        if isinstance(named, GraphQLScalarType | GraphQLEnumType):
            return _Scalar(named.coerce_output_value), nullable
        if isinstance(named, GraphQLList):
            item = self._shape(named.of_type, field_details_list)
            return None if item is None else (_List(*item), nullable)
        if isinstance(named, GraphQLObjectType) and named.is_type_of is None:
            collected = self.collect_subfields(named, field_details_list)
            if collected.new_defer_usages or collected.forbidden_directive_instances:
                return None
            plan = self._plan(named, collected.grouped_field_set)
            return None if plan.others is not None else (_Object(plan), nullable)
        # Interfaces and unions, and object types that check what they are given.
        return None


def _has_other_directives(node: FieldNode) -> bool:
    return any(d.name.value not in _COLLECTION_DIRECTIVES for d in node.directives or ())


class _VariableCollection(Visitor):
    found = False

    def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
        if node.name.value in _COLLECTION_DIRECTIVES and any(
            isinstance(argument.value, VariableNode) for argument in node.arguments or ()
        ):
            self.found = True
            return BREAK
        return None


def _takes_variables(node: Node) -> bool:
    """Whether @skip or @include take a variable anywhere in this node."""
    visitor = _VariableCollection()
    visit(node, visitor)
    return visitor.found


def _read(plan: _Plan, source: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in plan.plain:
        value = getattr(source, field.attribute)
        if value is not None:
            values[field.response_name] = field.shape.complete(value)
        elif field.nullable:
            values[field.response_name] = None
        else:
            raise _Unusual
    return values


def _merge(order: list[str], plain: dict[str, Any], others: dict[str, Any]) -> dict[str, Any]:
    # In the order of the selection, as the response must be; a field that
    # graphql-core left out (not in the schema) stays out.
    merged: dict[str, Any] = {}
    for name in order:
        if name in plain:
            merged[name] = plain[name]
        elif name in others:
            merged[name] = others[name]
    return merged


async def _merge_later(
    order: list[str], plain: dict[str, Any], others: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    return _merge(order, plain, await others)
