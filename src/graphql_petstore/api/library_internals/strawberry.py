"""What the server relies on in strawberry beyond its documented API (see
the package's docstring).

- strawberry's HTTP view runs a subscription sent over plain HTTP as if it
  were a query (and fails on the non-null root field); `execute_single` is
  where it decides which operation types an HTTP request may run.
- Shared subscriptions (graphql_petstore.sharing) are handed to a group by
  subclasses of strawberry's two WebSocket protocol handlers, which override
  the method that runs one subscription: `run_operation(operation)` of the
  graphql-transport-ws handler (an Operation with id, query, variables,
  operation_name; it sends `complete` through
  operation.send_operation_message) and `handle_async_results(id, query,
  operation_name, variables)` of the graphql-ws handler (which keeps
  `subscriptions` and `tasks` by id). A shared frame is sent as text
  straight to the Starlette WebSocket that strawberry's ASGI adapter holds
  (`websocket.ws`), and its payload is built as strawberry's `send_next` /
  `send_data_message` build theirs (`next_payload`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocketDisconnect
from starlette.websockets import WebSocketDisconnected as SendAfterClose
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from graphql_petstore.api.library_internals.uvicorn import frame_sink
from graphql_petstore.json_output import encode

if TYPE_CHECKING:
    from graphql_petstore.sharing.registry import SubscriptionGroups


HTTP_OPERATION_TYPES = {
    "GET": {OperationType.QUERY},
    "POST": {OperationType.QUERY, OperationType.MUTATION},
}


def next_payload(result: ExecutionResult) -> dict[str, Any]:
    """The payload of a `next` (or graphql-ws `data`) message, as strawberry
    builds it from a result."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


def _groups(view: Any) -> SubscriptionGroups | None:
    groups: SubscriptionGroups | None = getattr(view, "subscription_groups", None)
    return groups


class SharingTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws: a subscription that may be shared is served by
    its group; everything else (and all of the protocol) is strawberry's."""

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        groups = _groups(self.view)
        plan = None
        if groups is not None:
            plan = groups.plan(
                operation.query, operation.operation_name, operation.variables, self.context
            )
        if groups is None or plan is None:
            await super().run_operation(operation)
            return
        from graphql_petstore.sharing.members import FALLBACK, serve

        member = _member(self, f'{{"id":{encode(operation.id)},"type":"next","payload":')
        try:
            outcome = await serve(
                groups, plan, self.context, operation.variables, member, self._send_text
            )
        except WebSocketDisconnected:
            return
        except Exception as error:
            # As strawberry's run_operation does with an unexpected error.
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise
        if outcome == FALLBACK:
            await super().run_operation(operation)
            return
        await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def _send_text(self, text: str) -> None:
        try:
            await self.websocket.ws.send_text(text)  # type: ignore[attr-defined]
        except (WebSocketDisconnect, SendAfterClose) as exc:
            # SendAfterClose: the server closed it (a slow subscriber's socket).
            raise WebSocketDisconnected from exc


class SharingGraphQLWSHandler(BaseGraphQLWSHandler[Any, Any]):
    """graphql-ws (the legacy protocol), as SharingTransportWSHandler."""

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        groups = _groups(self.view)
        plan = None
        if groups is not None:
            plan = groups.plan(query, operation_name, variables, self.context)
        if groups is None or plan is None:
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        from graphql_petstore.sharing.members import FALLBACK, serve

        member = _member(self, f'{{"type":"data","id":{encode(operation_id)},"payload":')
        fallback = False
        try:
            outcome = await serve(groups, plan, self.context, variables, member, self._send_text)
            fallback = outcome == FALLBACK
            if not fallback:
                await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            await self.send_message({"type": "complete", "id": operation_id})
        except WebSocketDisconnected:
            pass
        finally:
            if not fallback:
                # As strawberry's: the operation's id is free again.
                self.subscriptions.pop(operation_id, None)
                self.tasks.pop(operation_id, None)
        if fallback:
            await super().handle_async_results(operation_id, query, operation_name, variables)

    async def _send_text(self, text: str) -> None:
        try:
            await self.websocket.ws.send_text(text)  # type: ignore[attr-defined]
        except (WebSocketDisconnect, SendAfterClose) as exc:
            # SendAfterClose: the server closed it (a slow subscriber's socket).
            raise WebSocketDisconnected from exc


def _member(handler: Any, frame_head: str) -> Any:
    """A group member for a subscription of `handler`'s socket, its frames
    starting with `frame_head` (the protocol's envelope up to the payload)."""
    from graphql_petstore.sharing.groups import Member

    return Member(
        frame_head,
        getattr(handler.context, "request_id", ""),
        handler.websocket.close,
        frame_sink(handler.websocket.ws.scope),
    )
