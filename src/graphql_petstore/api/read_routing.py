"""Where a request reads, decided once before it executes, the same way on
both request paths (strawberry's, through ReadRouting below; the compiled
path in compiled/http.py), and said in the response's extensions when there
are replicas (database/routing.py).

Queries go where the router sends them; everything else reads the primary:
a mutation's payload must show its own write, a subscription follows the
stream the primary writes, and `pet(asOf:)` is answered from the newest
history, which only the primary is sure to hold.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

from graphql_petstore.database.routing import Route, Router

if TYPE_CHECKING:
    from graphql_petstore.api.context import Context


def reads_as_of(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> bool:
    """Whether a query asks for `pet(asOf:)` with an asOf that may be given
    (a literal other than null, or any variable)."""
    fields = _root_fields(operation.selection_set.selections, fragments)
    return any(_as_of(field) for field in fields)


def _root_fields(
    selections: Iterable[SelectionNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> Iterable[FieldNode]:
    for selection in selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set.selections, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                yield from _root_fields(fragment.selection_set.selections, fragments, seen | {name})


def _as_of(field: FieldNode) -> bool:
    if field.name.value != "pet":
        return False
    return any(
        argument.name.value == "asOf" and not isinstance(argument.value, NullValueNode)
        for argument in field.arguments or ()
    )


def primary_only(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> bool:
    """Whether `operation` must read the primary, wherever queries go."""
    return operation.operation is not OperationType.QUERY or reads_as_of(operation, fragments)


async def route_for(router: Router, primary: bool, token: uuid.UUID | None) -> Route:
    """Where an operation reads (`primary`: what primary_only says of it);
    `token`: the event its consistency token names."""
    return router.primary_route() if primary else await router.route(token)


class ReadRouting(SchemaExtension):
    """strawberry's side: routes the request before execution (unless the
    compiled path routed it already and handed it on) and reports the route
    in the result's extensions."""

    async def on_execute(self) -> AsyncIterator[None]:
        context: Context = self.execution_context.context
        if getattr(context, "router", None) is not None and context.route is None:
            document = self.execution_context.graphql_document
            operation = (
                None
                if document is None
                else get_operation_ast(document, self.execution_context.operation_name)
            )
            if document is None or operation is None:
                context.route = context.router.primary_route()
            else:
                fragments = {
                    d.name.value: d
                    for d in document.definitions
                    if isinstance(d, FragmentDefinitionNode)
                }
                context.route = await route_for(
                    context.router,
                    primary_only(operation, fragments),
                    context.consistency_token,
                )
        yield

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        route = getattr(context, "route", None)
        if not isinstance(route, Route) or not context.router.enabled:
            return {}
        return route.extensions()
