"""The WebSocket protocols, hardened: every malformed message is answered —
graphql-transport-ws with its close codes (4400 …) or an `error` message,
the legacy graphql-ws with an `error` message — and never by dropping the
connection without a close frame, as strawberry's handlers do for a message
that is JSON but not an object, or a subscribe whose payload is null.

- A subscribe (start) whose document does not parse gets an `error`
  message with GRAPHQL_PARSE_FAILED (or TOO_MANY_TOKENS); the connection
  stays open. (strawberry's parse cache raised the syntax error out of the
  operation's task, which sent only `complete`.)
- Sockets that have not yet sent `connection_init` are counted per process:
  beyond PETSTORE_MAX_UNINITIALISED_WEBSOCKETS a new one is closed with 1013,
  so that sockets that never initialise cannot take the slots of
  PETSTORE_MAX_WEBSOCKETS from subscribers that do. Each has
  PETSTORE_WEBSOCKET_INIT_TIMEOUT seconds to initialise (4408 after that; the
  legacy protocol closes with 4408 too).
- Messages larger than PETSTORE_MAX_BODY_BYTES are refused with 1009 before
  they are parsed (middleware.WebSocketLimitMiddleware).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

from graphql import GraphQLError, GraphQLSyntaxError, parse

from graphql_petstore import error_codes
from graphql_petstore.api.library_internals import (
    SharingGraphQLWSHandler,
    SharingTransportWSHandler,
    is_token_limit,
)

CLOSE_BAD_REQUEST = 4400
CLOSE_INIT_TIMEOUT = 4408
CLOSE_TRY_AGAIN_LATER = 1013


class Uninitialised:
    """The sockets of one process that have not sent connection_init yet."""

    def __init__(self, limit: int, timeout: float) -> None:
        self.limit = limit
        self.timeout = timeout
        self.count = 0


def malformed_payload(payload: object) -> str | None:
    """Why a subscribe's (start's) payload is not a GraphQL request, or None."""
    if not isinstance(payload, dict):
        return "the payload must be a JSON object"
    if not isinstance(payload.get("query"), str):
        return "payload.query must be a string"
    if not isinstance(payload.get("variables") or {}, dict):
        return "payload.variables must be a JSON object"
    if not isinstance(payload.get("operationName") or "", str):
        return "payload.operationName must be a string"
    if not isinstance(payload.get("extensions") or {}, dict):
        return "payload.extensions must be a JSON object"
    return None


def syntax_error(handler: Any, query: str) -> GraphQLError | None:
    """The document's syntax error, coded; a document that parses is kept in
    the schema's document cache for the operation that follows."""
    documents = getattr(handler.schema, "documents_seen", None)
    if documents is not None and documents.parsed.get(query) is not None:
        return None
    settings = getattr(handler.view, "settings", None)
    try:
        document = parse(query, max_tokens=getattr(settings, "max_query_tokens", None))
    except GraphQLSyntaxError as error:
        code = (
            error_codes.TOO_MANY_TOKENS
            if is_token_limit(error)
            else error_codes.GRAPHQL_PARSE_FAILED
        )
        error.extensions = {**(error.extensions or {}), "code": code}
        return error
    if documents is not None:
        size = documents.charge(query)
        if size is not None:
            documents.parsed.put(query, document, size)
    return None


class _Counted:
    """Counts the socket as uninitialised from its acceptance until it sends
    connection_init or ends."""

    counted = False

    def _uninitialised(self) -> Uninitialised | None:
        return getattr(self.view, "uninitialised", None)  # type: ignore[attr-defined]

    def _admit(self) -> bool:
        tally = self._uninitialised()
        if tally is None:
            return True
        if tally.count >= tally.limit:
            return False
        tally.count += 1
        self.counted = True
        return True

    def _initialised(self) -> None:
        tally = self._uninitialised()
        if self.counted and tally is not None:
            tally.count -= 1
        self.counted = False


class TransportWSHandler(_Counted, SharingTransportWSHandler):
    """graphql-transport-ws (https://github.com/enisdenjo/graphql-ws)."""

    async def handle(self) -> None:
        if not self._admit():
            await self.websocket.close(
                code=CLOSE_TRY_AGAIN_LATER,
                reason="too many connections waiting for connection_init",
            )
            return
        try:
            await super().handle()
        finally:
            self._initialised()

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            await self.handle_invalid_message("a message must be a JSON object")
            return
        kind = message.get("type")
        if not isinstance(kind, str):
            await self.handle_invalid_message("a message must have a type (a string)")
            return
        if kind == "connection_init":
            self._initialised()
        if kind in ("subscribe", "complete") and (
            not isinstance(message.get("id"), str) or not message["id"]
        ):
            await self.handle_invalid_message(f"a {kind} message must have an id (a string)")
            return
        if kind == "subscribe":
            reason = malformed_payload(message.get("payload"))
            if reason is not None:
                await self.handle_invalid_message(reason)
                return
            if self.connection_acknowledged and message["id"] not in self.operations:
                error = syntax_error(self, message["payload"]["query"])
                if error is not None:
                    await self.send_message(
                        {"id": message["id"], "type": "error", "payload": [error.formatted]}
                    )
                    return
        await super().handle_message(cast(Any, message))


class LegacyWSHandler(_Counted, SharingGraphQLWSHandler):
    """graphql-ws, the protocol of subscriptions-transport-ws (deprecated)."""

    init_timeout_task: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        if not self._admit():
            await self.websocket.close(
                code=CLOSE_TRY_AGAIN_LATER,
                reason="too many connections waiting for connection_init",
            )
            return
        tally = self._uninitialised()
        if tally is not None:
            self.init_timeout_task = asyncio.create_task(self._init_timeout(tally.timeout))
        try:
            await super().handle()
        finally:
            self._initialised()
            if self.init_timeout_task is not None:
                self.init_timeout_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.init_timeout_task

    async def _init_timeout(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not self.connection_acknowledged:
            await self.websocket.close(
                code=CLOSE_INIT_TIMEOUT, reason="Connection initialisation timeout"
            )

    async def _error(self, message: str, operation_id: object = None) -> None:
        error: dict[str, Any] = {
            "type": "error",
            "payload": {"message": message, "extensions": {"code": error_codes.BAD_USER_INPUT}},
        }
        if isinstance(operation_id, str):
            error["id"] = operation_id
        await self.send_message(error)  # type: ignore[arg-type]

    async def handle_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            await self._error("a message must be a JSON object")
            return
        kind = message.get("type")
        operation_id = message.get("id")
        if kind == "connection_init":
            self._initialised()
        elif kind in ("start", "stop"):
            if not isinstance(operation_id, str) or not operation_id:
                await self._error(f"a {kind} message must have an id (a string)")
                return
            if kind == "start":
                reason = malformed_payload(message.get("payload"))
                if reason is not None:
                    await self._error(reason, operation_id)
                    return
                if self.connection_acknowledged:
                    error = syntax_error(self, message["payload"]["query"])
                    if error is not None:
                        await self.send_message(
                            {"type": "error", "id": operation_id, "payload": error.formatted}
                        )
                        return
        elif kind != "connection_terminate":
            await self._error(f"unknown message type: {kind!r}", operation_id)
            return
        await super().handle_message(cast(Any, message))
