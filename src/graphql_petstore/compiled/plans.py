"""Documents planned once: parsed, validated and compiled per variant.

A plan belongs to one document text and operation name. It is made the
first time they arrive: parsed (with the token limit) and validated (with the
schema's rules and the server's limits) exactly as strawberry would, or
refused when anything is wrong, so that strawberry answers it. A plan holds
the operation's cost model (a request over the budget is refused by
strawberry's path, never run here) and one compiled statement per
*variant*: requests whose variables have the same shape
(arguments/shape_of: which are null, which input fields are given, which
lists are empty or hold one item, the Booleans of @skip and @include) share
one statement; only their values differ, bound as its parameters.

Page sizes are the exception: a variable that gives a `first` (as Relay and
Apollo clients write `pets(first: $first)`) is written into the statement
like a literal size (Compiler.integer), one variant per size, so that
PostgreSQL keeps one plan for the statement instead of planning it on every
request. Clients use a few sizes; past MAX_SIZED_VARIANTS of them a document
takes its other sizes as parameters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    Visitor,
    get_operation_ast,
    parse,
    validate,
    visit,
)
from graphql.validation import ASTValidationRule

from graphql_petstore.api.context import page_size
from graphql_petstore.api.cost import CostModel, model_of
from graphql_petstore.api.read_routing import primary_only
from graphql_petstore.caches import BoundedCache
from graphql_petstore.compiled import operations
from graphql_petstore.compiled.arguments import Bindings, RequestValueError, shape_of
from graphql_petstore.compiled.objects import Compiler
from graphql_petstore.compiled.operations import Statement, Write
from graphql_petstore.compiled.selection import Unsupported, collect
from graphql_petstore.compiled.variables import Signature, coerce, signatures
from graphql_petstore.settings import Settings

logger = logging.getLogger(__name__)

# Documents remembered per process, in number and in the bytes of their text
# (a parsed document and its statements take a few times its text).
MAX_PLANS = 2_048
MAX_PLAN_BYTES = 64 * 1024 * 1024
BYTES_PER_DOCUMENT_CHARACTER = 8
# Variants kept per document; a document whose variables take more shapes
# than this compiles the statement of each further shape for every request.
MAX_VARIANTS = 32
# Page sizes (with their shapes) written into a document's statements.
MAX_SIZED_VARIANTS = 8

Compiled = Statement | Write


@dataclass
class Plan:
    kind: OperationType
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    variables: tuple[str, ...]
    # What a request of it may cost, given its variables (api/cost.py).
    cost: CostModel
    # Whether it reads the primary wherever queries go (api/read_routing.py).
    primary_only: bool
    # Its variables' types, when plain enough to coerce without graphql-core's
    # per-request work (compiled/variables.py).
    signatures: tuple[Signature, ...] | None
    # The variables that give a page size (`first: $first`).
    page_sizes: tuple[str, ...] = ()
    variants: dict[tuple[Any, ...], Compiled | None] = field(default_factory=dict)
    sized_variants: dict[tuple[Any, ...], Compiled | None] = field(default_factory=dict)


class Plans:
    def __init__(
        self,
        schema: GraphQLSchema,
        settings: Settings,
        rules: list[type[ASTValidationRule]],
    ) -> None:
        self.schema = schema
        self.settings = settings
        self.rules = rules
        self._plans: BoundedCache[tuple[str, str | None], Plan | None] = BoundedCache(
            MAX_PLANS, MAX_PLAN_BYTES
        )

    def plan(self, document: str, operation_name: str | None) -> Plan | None:
        """The document's plan; None when strawberry must answer it (it is
        invalid, or not a query or mutation)."""
        key = (document, operation_name)
        found = self._plans.get(key)
        if found is not None or key in self._plans:
            return found
        made = self._make(document, operation_name)
        self._plans.put(key, made, len(document) * BYTES_PER_DOCUMENT_CHARACTER)
        return made

    def _make(self, text: str, operation_name: str | None) -> Plan | None:
        try:
            document = parse(text, max_tokens=self.settings.max_query_tokens)
        except GraphQLError:
            return None
        if validate(self.schema, document, self.rules):
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation not in (
            OperationType.QUERY,
            OperationType.MUTATION,
        ):
            return None
        cost = model_of(self.schema, document, operation_name, self.settings.max_page_size)
        fragments = _fragments(document)
        assert cost is not None, "the operation was found"
        return Plan(
            kind=operation.operation,
            operation=operation,
            fragments=fragments,
            variables=tuple(d.variable.name.value for d in operation.variable_definitions or ()),
            cost=cost,
            signatures=signatures(self.schema, operation.variable_definitions or ()),
            primary_only=primary_only(operation, fragments),
            page_sizes=_page_size_variables(operation, fragments),
        )

    def coerce(self, plan: Plan, variables: dict[str, Any]) -> dict[str, Any] | list[GraphQLError]:
        """The request's variables coerced, or graphql-core's errors."""
        definitions = plan.operation.variable_definitions or ()
        return coerce(self.schema, definitions, plan.signatures, variables)

    def over_budget(self, plan: Plan, variables: dict[str, Any]) -> bool:
        """Whether a request of `plan` with these (coerced) variables may cost
        more than PETSTORE_MAX_QUERY_COST: strawberry refuses it then."""
        return plan.cost.evaluate(variables) > self.settings.max_query_cost

    def compiled(self, plan: Plan, variables: dict[str, Any]) -> Compiled | None:
        """The statement of the variant these variables make; None when
        strawberry must answer (the compiler does not support the document,
        or this request's values are ones strawberry would refuse)."""
        shape = tuple(shape_of(variables.get(name)) for name in plan.variables)
        if plan.page_sizes:
            sizes = tuple(variables.get(name) for name in plan.page_sizes)
            key = (shape, sizes)
            if key in plan.sized_variants or (
                len(plan.sized_variants) < MAX_SIZED_VARIANTS and self._valid_sizes(sizes)
            ):
                return self._variant(plan, variables, plan.sized_variants, key, plan.page_sizes)
        return self._variant(plan, variables, plan.variants, shape, ())

    def _valid_sizes(self, sizes: tuple[Any, ...]) -> bool:
        """Whether the resolvers take these page sizes: a size they refuse
        stays a parameter, refused when bound, and never costs a compile."""
        try:
            for size in sizes:
                page_size(size, self.settings)
        except GraphQLError:
            return False
        return True

    def _variant(
        self,
        plan: Plan,
        variables: dict[str, Any],
        variants: dict[tuple[Any, ...], Compiled | None],
        key: tuple[Any, ...],
        inlined: tuple[str, ...],
    ) -> Compiled | None:
        if key in variants:
            return variants[key]
        try:
            compiled = self._compile(plan, variables, inlined)
        except Unsupported as exc:
            logger.debug("not compiled (%s): strawberry answers it", exc)
            compiled = None
        except (RequestValueError, GraphQLError, ValueError):
            return None  # this request's values; another request may do
        if len(variants) < MAX_VARIANTS:
            variants[key] = compiled
        return compiled

    def _compile(self, plan: Plan, variables: dict[str, Any], inlined: tuple[str, ...]) -> Compiled:
        writing = plan.kind is OperationType.MUTATION
        sample = Bindings(variables, inlined=frozenset(inlined))
        compiler = Compiler(self.schema, plan.fragments, sample, self.settings, writing=writing)
        root = self.schema.mutation_type if writing else self.schema.query_type
        assert root is not None
        fields = collect(
            self.schema, root, [plan.operation.selection_set], plan.fragments, variables
        )
        compiled: Compiled = (
            operations.mutation(compiler, fields) if writing else operations.query(compiler, fields)
        )
        if self.settings.log_compiled_sql:
            if isinstance(compiled, Write):
                # The INSERT most requests take, then the call for the rest.
                text = "\nor, through the append function:\n".join(
                    (compiled.insert.sql, compiled.append.sql)
                )
            else:
                text = compiled.sql
            logger.info("compiled %s:\n%s", _describe(plan), text)
        return compiled


def _page_size_variables(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> tuple[str, ...]:
    """The variables that are a `first` argument's value, in the operation or
    its fragments. Every `first` of the schema is a page size."""
    found: dict[str, None] = {}

    class Sizes(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            if node.name.value == "first" and isinstance(node.value, VariableNode):
                found[node.value.name.value] = None

    for part in (operation, *fragments.values()):
        visit(part, Sizes())
    return tuple(found)


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def _describe(plan: Plan) -> str:
    name = plan.operation.name.value if plan.operation.name else "(anonymous)"
    return f"{plan.kind.value} {name}"
