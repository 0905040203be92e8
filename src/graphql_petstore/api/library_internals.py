"""What the error codes rely on in strawberry and graphql-core beyond their
documented API. tests/api/test_library_internals.py fails loudly when an
upgrade changes any of it.

- graphql-core reports a document over its token limit as a syntax error
  whose message says so (graphql.language.parser): that message is how a
  token-limit error is told from any other syntax error.
- strawberry's scalars raise a GraphQLError without a node when a literal
  written in the document does not parse, and graphql-core's
  ValuesOfCorrectTypeRule reports it as it is: without `locations`. Each
  scalar's parse_literal is wrapped to add the node.
- graphql-core coerces every input value through its scalar's
  `coerce_input_value` / `coerce_input_literal` (and the deprecated
  `parse_value` / `parse_literal` that strawberry's scalars define), and
  passes a GraphQLError raised there on, with its extensions, as the
  original error of the variable's or literal's error. The checks of
  api/input_guards.py are put around those functions: on graphql-core's own
  String, which every schema of the process shares (no String may hold what
  PostgreSQL cannot store, in any schema here), and on this schema's
  DateTime and JSON.
- uvicorn has no timeout for a request's line and headers (a client that
  sends them a byte at a time holds its socket for ever). Its HTTP protocol
  classes (httptools' and h11's) are asyncio protocols that set
  `self.cycle` when a request's headers are complete, and take a protocol
  class of ours (Config(http=…)): `with_header_timeout` subclasses the one
  uvicorn would pick and closes, with 408, a connection whose request line
  and headers take longer than the timeout.
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
- A group writes its frames to each member's socket from its fan-out loop
  (FrameSink), not through a task and an ASGI send per frame: each member's
  frame goes to the websockets Sans-I/O connection (`conn.send_text`, which
  frames and compresses it) of uvicorn's WebSocketsSansIOProtocol, and each
  socket's frames of one event leave in one `transport.write`. It relies on
  that protocol's `send` being the ASGI send that reaches the app (nothing in
  between does anything to a `websocket.send`: see SinkMiddleware) and on its
  attributes `conn`, `transport`, `writable` (cleared while the transport is
  paused), `close_sent`, `disconnected`. Under any other WebSocket protocol
  (wsproto, uvicorn's legacy websockets one), or a tracer's middleware
  outside, a member has no sink and its frames go through the ASGI send.
- prometheus-client's Histogram observes one value at a time, in Python,
  under a lock per bucket. observability.metrics counts an operation's
  latencies in plain numbers and adds them in bulk (`add_observations`): a
  histogram child keeps `_sum` and, in `_buckets`, one value per bound of
  `_upper_bounds` (counts not cumulative: observe() adds 1 to the first
  bucket whose bound is not below the value), each with `inc(amount)`; in
  multiprocess mode those values are the ones written to the worker's file.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLError,
    GraphQLInt,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    GraphQLSyntaxError,
    ValueNode,
    is_specified_scalar_type,
)
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

from graphql_petstore.json_output import encode

if TYPE_CHECKING:
    from graphql_petstore.sharing.registry import SubscriptionGroups

_TOKEN_LIMIT = re.compile(r"Syntax Error: Document contains more than \d+ tokens\.")


def is_token_limit(error: GraphQLError) -> bool:
    return isinstance(error, GraphQLSyntaxError) and bool(_TOKEN_LIMIT.match(error.message))


def locate_scalar_errors(schema: GraphQLSchema) -> None:
    """Make the errors of every custom scalar's literals carry the literal's
    location (graphql-core's own scalars give it already, and are shared by
    every schema of the process)."""
    for named in schema.type_map.values():
        if isinstance(named, GraphQLScalarType) and not is_specified_scalar_type(named):
            named.parse_literal = _located(named.parse_literal)  # type: ignore[method-assign]


def _located(parse_literal: Any) -> Any:
    if getattr(parse_literal, "_petstore_located", False):
        return parse_literal

    def parse(node: ValueNode, variables: Any = None) -> Any:
        try:
            return parse_literal(node, variables)
        except GraphQLError as error:
            if error.nodes:
                raise
            raise GraphQLError(
                error.message,
                node,
                original_error=error.original_error,
                extensions=error.extensions,
            ) from error

    parse._petstore_located = True  # type: ignore[attr-defined]
    parse._petstore_original = parse_literal  # type: ignore[attr-defined]
    return parse


_GUARDED_COERCERS = ("coerce_input_value", "coerce_input_literal", "parse_value", "parse_literal")


def guard_scalars(schema: GraphQLSchema) -> None:
    """Every String, DateTime and JSON input value passes its check of
    api/input_guards.py (see the top of this module)."""
    from graphql_petstore.api.input_guards import (
        check_instant,
        check_json,
        check_string,
        integer_conversion,
    )

    _guard(GraphQLString, _then(check_string))
    _guard(GraphQLInt, integer_conversion)
    for name, check in (("DateTime", check_instant), ("JSON", check_json)):
        named = schema.type_map.get(name)
        if isinstance(named, GraphQLScalarType):
            _guard(named, _then(check))


def _guard(scalar: GraphQLScalarType, wrap: Any) -> None:
    """Replaces each coercion function of `scalar` with `wrap(it)`, once."""
    for attribute in _GUARDED_COERCERS:
        coerce = getattr(scalar, attribute, None)
        if coerce is None or getattr(coerce, "_petstore_guarded", False):
            continue
        guarded = wrap(coerce)
        guarded._petstore_guarded = True
        setattr(scalar, attribute, guarded)


def _then(check: Any) -> Any:
    """A wrap for _guard: the coerced value passes through `check`."""

    def wrap(coerce: Any) -> Any:
        def checked(*args: Any) -> Any:
            return check(coerce(*args))

        return checked

    return wrap


_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


def add_observations(histogram: Any, buckets: list[int], total: float) -> None:
    """What observe() of each value would add to a histogram's label child:
    `buckets[i]` values in the bucket of `_upper_bounds[i]` (not cumulative),
    summing to `total`."""
    histogram._sum.inc(total)
    values = histogram._buckets
    for index, count in enumerate(buckets):
        if count:
            values[index].inc(count)


def with_header_timeout(seconds: float, base: type[asyncio.Protocol] | None = None) -> type[Any]:
    """uvicorn's HTTP protocol (`base`, else the one it picks by default),
    closing with 408 a connection whose request line and headers have not
    all arrived `seconds` after the connection opened or the request's first
    byte came. Idle keep-alive connections are uvicorn's (timeout_keep_alive)."""
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol
    from graphql_petstore.error_codes import REQUEST_READ_TIMEOUT

    body = (
        b'{"errors":[{"message":"the request line and headers did not arrive within '
        + f"{seconds:g}".encode()
        + b' s","extensions":{"code":"'
        + REQUEST_READ_TIMEOUT.encode()
        + b'"}}]}'
    )
    response = _REQUEST_TIMEOUT % (len(body), body)

    class HeaderTimeout(base):  # type: ignore[valid-type,misc]
        _header_timer: asyncio.TimerHandle | None = None
        _waiting_since: Any = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and self._between_requests():
                self._arm()
            super().data_received(data)
            if self._header_timer is not None and self.cycle is not self._waiting_since:
                self._disarm()  # the headers are in: uvicorn made the request's cycle

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _between_requests(self) -> bool:
            cycle = self.cycle
            return cycle is None or bool(cycle.response_complete)

        def _arm(self) -> None:
            self._disarm()
            self._waiting_since = self.cycle
            self._header_timer = asyncio.get_running_loop().call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            transport = self.transport
            # Upgraded to a WebSocket meanwhile: the socket is not ours any more.
            if transport.is_closing() or transport.get_protocol() is not self:
                return
            if self.cycle is not self._waiting_since:
                return
            transport.write(response)
            transport.close()

    HeaderTimeout.__name__ = f"HeaderTimeout{base.__name__}"
    return HeaderTimeout


# What `serve` gives uvicorn as its HTTP protocol, by name: uvicorn imports
# it in each worker process (a class made at run time would not survive the
# trip to a worker), with PETSTORE_HEADER_READ_TIMEOUT from the environment.
HEADER_TIMEOUT_PROTOCOL = f"{__name__}:HeaderTimeoutHTTPProtocol"


def __getattr__(name: str) -> Any:
    if name == "HeaderTimeoutHTTPProtocol":
        from graphql_petstore.settings import Settings

        made = with_header_timeout(Settings.from_env().header_read_timeout)
        globals()[name] = made
        return made
    raise AttributeError(name)


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
        from graphql_petstore.sharing.groups import Member
        from graphql_petstore.sharing.members import FALLBACK, serve

        member = Member(
            f'{{"id":{encode(operation.id)},"type":"next","payload":',
            getattr(self.context, "request_id", ""),
            self.websocket.close,
            frame_sink(self.websocket.ws.scope),  # type: ignore[attr-defined]
        )
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
        from graphql_petstore.sharing.groups import Member
        from graphql_petstore.sharing.members import FALLBACK, serve

        member = Member(
            f'{{"type":"data","id":{encode(operation_id)},"payload":',
            getattr(self.context, "request_id", ""),
            self.websocket.close,
            frame_sink(self.websocket.ws.scope),  # type: ignore[attr-defined]
        )
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


# --- a shared subscription's frames, written from its group's fan-out loop ---------------

SINK_SCOPE_KEY = "graphql_petstore.frame_sink"


class FrameSink:
    """One WebSocket connection's uvicorn protocol, written to directly."""

    __slots__ = ("_conn", "_protocol", "_transport")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._conn = protocol.conn
        self._transport: asyncio.Transport | None = None

    def ready(self) -> bool:
        """Whether frames may be written now: open, accepted, not closing, and
        the transport not paused (else they wait in the members' queues, and
        go out through the ASGI send, which waits for it)."""
        protocol = self._protocol
        transport = protocol.transport
        if (
            not protocol.handshake_complete
            or protocol.close_sent
            or protocol.disconnected
            or protocol.initial_response is not None
            or not protocol.writable.is_set()
            or transport is None
            or transport.is_closing()
            or self._conn.state is not _OPEN
        ):
            return False
        self._transport = transport
        return True

    def send(self, frame: bytes) -> None:
        self._conn.send_text(frame)

    def flush(self) -> None:
        output = self._conn.data_to_send()
        if output and self._transport is not None:
            self._transport.write(b"".join(output))


def frame_sink(scope: Any) -> FrameSink | None:
    sink: FrameSink | None = scope.get(SINK_SCOPE_KEY)
    return sink


class SinkMiddleware:
    """Outermost but for a tracer: gives a WebSocket whose ASGI send is
    uvicorn's own WebSocketsSansIOProtocol.send a FrameSink in its scope. The
    middlewares in between pass a `websocket.send` on untouched (they act on
    http messages, `websocket.accept` and `websocket.close`): a frame written
    to the sink is what the ASGI send would have written."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            if type(protocol) is _SANS_IO and getattr(send, "__name__", "") == "send":
                scope[SINK_SCOPE_KEY] = FrameSink(protocol)
        await self.app(scope, receive, send)


def _sans_io_protocol() -> tuple[type[Any] | None, Any]:
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
        from websockets.protocol import State
    except ImportError:  # websockets is not installed: wsproto, no sinks
        return None, None
    return WebSocketsSansIOProtocol, State.OPEN


_SANS_IO, _OPEN = _sans_io_protocol()
