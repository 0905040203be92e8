"""What an operation may cost, known before it runs: the number of objects
it may return, page sizes multiplied through the nesting (as GitHub's GraphQL
API counts nodes and Shopify counts query cost). An operation that costs more
than PETSTORE_MAX_QUERY_COST is refused with QUERY_COST_EXCEEDED and never
runs.

    cost(selection, page) = sum over its fields (fragments spread in place):
        scalar, enum, __typename        0
        a connection (pets, events,     1 + cost(its selection, page = first,
          Pet.history)                  or the default page size; at most
                                        PETSTORE_MAX_PAGE_SIZE)
        nodes, edges of a connection    page * (1 + cost(its selection))
        Pet.offspring (unpaginated)     PETSTORE_MAX_PAGE_SIZE * (1 + cost(…))
        an introspection list           the most items such a list has in
                                        this schema * (1 + cost(…))
        any other object                1 + cost(its selection)

It is a bound, never an estimate of less: @skip and @include are ignored,
the selections for each type of an interface are all counted, and fields
that merge (one response name selected twice) are counted twice.

The model of a document (`CostModel`) is built once and cached with it; a
request evaluates it with its variables, each fragment once per page size it
is used with, so both are linear in the document however often fragments
spread each other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

from graphql_petstore import error_codes
from graphql_petstore.caches import BoundedCache
from graphql_petstore.settings import DEFAULT_PAGE_SIZE, Settings

# What extensions.cost says at most (JSON numbers beyond it lose precision):
# a cost above it is reported as it.
MAX_REPORTED_COST = 2**53 - 1
# Models kept for strawberry's path, in number and in the bytes of their text.
MAX_MODELS = 2_048
MAX_MODEL_BYTES = 16 * 1024 * 1024
BYTES_PER_DOCUMENT_CHARACTER = 4

# How a field's objects are counted (see the module's docstring).
_ONE = 0  # one object
_CONNECTION = 1  # one object whose nodes and edges are pages of `first`
_PAGE = 2  # a list as long as the enclosing connection's page
_BOUNDED = 3  # a list of at most `bound` items


@dataclass(frozen=True)
class _PageSize:
    """`first` of one connection field: a literal, a variable, or absent."""

    literal: int | None
    variable: str | None
    default: int

    def value(self, variables: Mapping[str, Any], cap: int) -> int:
        given: Any = self.literal
        if self.variable is not None:
            given = variables.get(self.variable, self.default)
        if given is None:
            given = self.default
        if not isinstance(given, int) or isinstance(given, bool):
            # Not a page size: execution refuses it (BAD_USER_INPUT).
            given = self.default
        size: int = max(0, min(given, cap))
        return size


@dataclass
class _Selection:
    # (kind, list bound or page size, the field's own selection)
    fields: list[tuple[int, int | _PageSize, _Selection | None]] = field(default_factory=list)
    spreads: list[str] = field(default_factory=list)


def _sizes_by_variable(selection: _Selection) -> bool:
    """Whether a page size in `selection` (not in the fragments it spreads)
    is a variable's."""
    return any(
        (isinstance(size, _PageSize) and size.variable is not None)
        or (sub is not None and _sizes_by_variable(sub))
        for _, size, sub in selection.fields
    )


class CostModel:
    """The cost of one operation of one document, as a function of its
    variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        max_page_size: int,
    ) -> None:
        self._schema = schema
        self._max_page_size = max_page_size
        self._definitions = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._defaults = _variable_defaults(operation)
        self._introspection_bounds = _introspection_bounds(schema)
        self.fragments: dict[str, _Selection] = {}
        root = schema.get_root_type(operation.operation)
        self._root = (
            self._selection(root, operation.selection_set) if root is not None else _Selection()
        )
        del self._definitions, self._schema
        # Known once for all requests when no page size is a variable.
        self._constant: int | None = None
        if not any(_sizes_by_variable(s) for s in (self._root, *self.fragments.values())):
            self._constant = self.evaluate({})

    def evaluate(self, variables: Mapping[str, Any] | None) -> int:
        if self._constant is not None:
            return self._constant
        memo: dict[tuple[str, int], int] = {}
        return self._cost(self._root, 0, variables or {}, memo)

    def _cost(
        self,
        selection: _Selection,
        page: int,
        variables: Mapping[str, Any],
        memo: dict[tuple[str, int], int],
    ) -> int:
        total = 0
        for kind, size, sub in selection.fields:
            inner = 0
            if sub is not None:
                inner_page = 0
                if kind == _CONNECTION:
                    assert isinstance(size, _PageSize)
                    inner_page = size.value(variables, self._max_page_size)
                inner = self._cost(sub, inner_page, variables, memo)
            if kind == _PAGE:
                total += page * (1 + inner)
            elif kind == _BOUNDED:
                assert isinstance(size, int)
                total += size * (1 + inner)
            else:
                total += 1 + inner
        for name in selection.spreads:
            key = (name, page)
            found = memo.get(key)
            if found is None:
                fragment = self.fragments.get(name)
                memo[key] = 0  # a cycle (validation refuses those) counts nothing
                found = 0 if fragment is None else self._cost(fragment, page, variables, memo)
                memo[key] = found
            total += found
        return total

    # --- building

    def _selection(self, parent: GraphQLNamedType, selection_set: SelectionSetNode) -> _Selection:
        made = _Selection()
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                counted = self._field(parent, node)
                if counted is not None:
                    made.fields.append(counted)
            elif isinstance(node, FragmentSpreadNode):
                self._fragment(node.name.value)
                made.spreads.append(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                condition = (
                    self._schema.get_type(node.type_condition.name.value)
                    if node.type_condition is not None
                    else parent
                )
                inline = self._selection(condition or parent, node.selection_set)
                made.fields.extend(inline.fields)
                made.spreads.extend(inline.spreads)
        return made

    def _fragment(self, name: str) -> None:
        if name in self.fragments:
            return
        definition = self._definitions.get(name)
        self.fragments[name] = _Selection()  # in progress: a cycle stops here
        if definition is None:
            return
        condition = self._schema.get_type(definition.type_condition.name.value)
        if condition is not None:
            self.fragments[name] = self._selection(condition, definition.selection_set)

    def _field(
        self, parent: GraphQLNamedType, node: FieldNode
    ) -> tuple[int, int | _PageSize, _Selection | None] | None:
        if node.selection_set is None:
            return None  # a leaf (or __typename): no object
        definition = _field_definition(self._schema, parent, node.name.value)
        if definition is None:
            return None  # validation refuses it
        output = get_nullable_type(definition.type)
        named = get_named_type(output)
        sub = self._selection(named, node.selection_set)
        if named.name.endswith("Connection") and "first" in definition.args:
            return _CONNECTION, self._page_size(node), sub
        if isinstance(output, GraphQLList):
            if parent.name.endswith("Connection") and node.name.value in ("nodes", "edges"):
                return _PAGE, 0, sub
            bound = self._introspection_bounds.get((parent.name, node.name.value))
            return _BOUNDED, self._max_page_size if bound is None else bound, sub
        return _ONE, 0, sub

    def _page_size(self, node: FieldNode) -> _PageSize:
        default = min(DEFAULT_PAGE_SIZE, self._max_page_size)
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return _PageSize(int(value.value), None, default)
            if isinstance(value, VariableNode):
                name = value.name.value
                given = self._defaults.get(name)
                return _PageSize(None, name, default if given is None else given)
        return _PageSize(None, None, default)


def _field_definition(
    schema: GraphQLSchema, parent: GraphQLNamedType, name: str
) -> GraphQLField | None:
    if name == "__schema" or name == "__type":
        from graphql import SchemaMetaFieldDef, TypeMetaFieldDef

        return SchemaMetaFieldDef if name == "__schema" else TypeMetaFieldDef
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    return None


def _variable_defaults(operation: OperationDefinitionNode) -> dict[str, int | None]:
    defaults: dict[str, int | None] = {}
    for definition in operation.variable_definitions or ():
        value = definition.default_value
        defaults[definition.variable.name.value] = (
            int(value.value) if isinstance(value, IntValueNode) else None
        )
    return defaults


def _introspection_bounds(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """The longest each introspection list of objects is in this schema."""
    types = list(schema.type_map.values())
    outputs = [t for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    inputs = [t for t in types if isinstance(t, GraphQLInputObjectType)]
    abstract = [t for t in types if isinstance(t, GraphQLInterfaceType | GraphQLUnionType)]
    fields = [f for t in outputs for f in t.fields.values()]
    return {
        ("__Schema", "types"): len(types),
        ("__Schema", "directives"): len(schema.directives),
        ("__Type", "fields"): max((len(t.fields) for t in outputs), default=0),
        ("__Type", "inputFields"): max((len(t.fields) for t in inputs), default=0),
        ("__Type", "enumValues"): max(
            (len(t.values) for t in types if isinstance(t, GraphQLEnumType)), default=0
        ),
        ("__Type", "interfaces"): max((len(t.interfaces) for t in outputs), default=0),
        ("__Type", "possibleTypes"): max(
            (len(schema.get_possible_types(t)) for t in abstract), default=0
        ),
        ("__Field", "args"): max((len(f.args) for f in fields), default=0),
        ("__Directive", "args"): max((len(d.args) for d in schema.directives), default=0),
    }


def model_of(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None, max_page_size: int
) -> CostModel | None:
    """The cost model of the operation `operation_name` names (None when the
    document does not name one operation: execution refuses it)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    return CostModel(schema, document, operation, max_page_size)


def cost_exceeded(cost: int, limit: int) -> GraphQLError:
    reported = min(cost, MAX_REPORTED_COST)
    return GraphQLError(
        f"the operation may return up to {reported} objects, more than the limit of {limit}: "
        "ask for smaller pages (first) or nest fewer lists",
        extensions={"code": error_codes.QUERY_COST_EXCEEDED, "cost": reported, "limit": limit},
    )


class CostModels:
    """Cost models of strawberry's path, per document text and operation."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._models: BoundedCache[tuple[str, str | None], CostModel | None] = BoundedCache(
            MAX_MODELS, MAX_MODEL_BYTES
        )

    def model(
        self,
        schema: GraphQLSchema,
        text: str | None,
        document: DocumentNode,
        operation_name: str | None,
    ) -> CostModel | None:
        if text is None:
            return model_of(schema, document, operation_name, self.settings.max_page_size)
        key = (text, operation_name)
        found = self._models.get(key)
        if found is not None or key in self._models:
            return found
        made = model_of(schema, document, operation_name, self.settings.max_page_size)
        self._models.put(key, made, len(text) * BYTES_PER_DOCUMENT_CHARACTER)
        return made


class QueryCostLimit(SchemaExtension):
    """Refuses, before execution, an operation that costs more than
    PETSTORE_MAX_QUERY_COST (its document already validated)."""

    def __init__(self, *, models: CostModels, limit: int) -> None:
        self.models = models
        self.limit = limit

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            schema = context.schema._schema
            model = self.models.model(schema, context.query, document, context.operation_name)
            cost = 0 if model is None else model.evaluate(context.variables)
            if cost > self.limit:
                # strawberry does not execute an operation that has a result already.
                context.result = ExecutionResult(
                    data=None, errors=[cost_exceeded(cost, self.limit)]
                )
        yield
