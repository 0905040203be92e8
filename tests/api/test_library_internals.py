"""What graphql_petstore.api.library_internals relies on in strawberry and
graphql-core: each test fails loudly, naming what changed, when an upgrade
breaks an assumption."""

from __future__ import annotations

import asyncio
import gc
import inspect
import socket
from typing import Any

import pytest
import uvicorn
from graphql import (
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLSyntaxError,
    StringValueNode,
    parse,
    validate,
)
from strawberry.asgi import GraphQL
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from graphql_petstore.api.library_internals import (
    SinkMiddleware,
    frame_sink,
    is_token_limit,
    with_header_timeout,
)
from graphql_petstore.api.schema import create_schema
from graphql_petstore.graphql_view import PetstoreGraphQL
from graphql_petstore.settings import Settings


def test_graphql_core_still_says_a_document_is_over_its_token_limit() -> None:
    with pytest.raises(GraphQLSyntaxError) as raised:
        parse("{ a b c d e f }", max_tokens=3)
    assert is_token_limit(raised.value), raised.value.message
    with pytest.raises(GraphQLSyntaxError) as other:
        parse("{ a ")
    assert not is_token_limit(other.value)


def test_strawberry_scalars_still_raise_literal_errors_without_a_node() -> None:
    uuid_type = create_schema(Settings())._schema.type_map["UUID"]
    assert isinstance(uuid_type, GraphQLScalarType)
    original = uuid_type.parse_literal._petstore_original  # type: ignore[attr-defined]
    with pytest.raises(GraphQLError) as raised:
        original(StringValueNode(value="xyz"))
    assert not raised.value.nodes, "strawberry gives the node now: drop locate_scalar_errors"
    [error] = validate(uuid_type_schema(), parse('{ pet(id: "xyz") { id } }'))
    assert error.locations, "locate_scalar_errors gives it"


def uuid_type_schema() -> GraphQLSchema:
    return create_schema(Settings())._schema


def test_strawberry_http_view_still_decides_operation_types_in_execute_single() -> None:
    ours = inspect.signature(PetstoreGraphQL.execute_single)
    theirs = inspect.signature(GraphQL.execute_single)
    assert list(ours.parameters) == list(theirs.parameters)
    assert "allowed_operation_types" in inspect.getsource(GraphQL.execute_single)
    assert InvalidOperationTypeError(OperationType.SUBSCRIPTION).operation_type is (
        OperationType.SUBSCRIPTION
    )


# --- uvicorn: the request line and headers must arrive in time -----------------


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def _serve_with_header_timeout(seconds: float, app: Any = _ok) -> tuple[Any, int, Any]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=with_header_timeout(seconds), log_level="warning"
    )
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.01)
    return server, port, task


async def test_uvicorn_protocols_still_take_a_header_timeout() -> None:
    """Slow headers are closed with 408 (uvicorn has no such timeout of its
    own); a request whose headers come in time, before or after, is served."""
    server, port, task = await _serve_with_header_timeout(0.5)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"ok"), 10)).startswith(b"HTTP/1.1 200")
        # The next request on the same connection trickles: cut off.
        writer.write(b"GET / HTTP/1.1\r\nHo")
        answer = await asyncio.wait_for(reader.read(), 10)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"REQUEST_READ_TIMEOUT" in answer
        writer.close()
        # A connection that says nothing at all is cut off too.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 408")
        writer.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


# --- uvicorn: a response's head leaves with its body -----------------------------


async def test_uvicorn_protocol_still_sends_a_response_head_with_its_body() -> None:
    """The head of a response with a body of known length waits for the
    body (one write for both); a streamed response's head, and a HEAD
    request's, go out at once."""
    head_sent, release = asyncio.Event(), asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        length = [] if scope["path"] == "/streamed" else [(b"content-length", b"4")]
        await send({"type": "http.response.start", "status": 200, "headers": length})
        head_sent.set()
        await release.wait()
        await send({"type": "http.response.body", "body": b"done"})

    async def exchange(request: bytes, end: bytes) -> tuple[bytes, bytes]:
        """What had arrived when the app had sent its head, and the rest."""
        head_sent.clear()
        release.clear()
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, request)
        await asyncio.wait_for(head_sent.wait(), 10)
        # A write on loopback is in the peer's buffer when send() returns.
        try:
            early = sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            early = b""
        release.set()
        rest = b""
        while not (early + rest).endswith(end):
            rest += await asyncio.wait_for(loop.sock_recv(sock, 65536), 10)
        sock.close()
        return early, rest

    server, port, task = await _serve_with_header_timeout(10, app)
    try:
        early, rest = await exchange(b"GET /sized HTTP/1.1\r\nHost: x\r\n\r\n", b"done")
        assert early == b"", "uvicorn wrote the head before the body: _HeadWithBody is bypassed"
        assert rest.startswith(b"HTTP/1.1 200"), rest
        assert rest.endswith(b"\r\n\r\ndone"), rest
        early, rest = await exchange(b"GET /streamed HTTP/1.1\r\nHost: x\r\n\r\n", b"0\r\n\r\n")
        assert early.startswith(b"HTTP/1.1 200"), early
        assert b"chunked" in early, early
        assert rest.endswith(b"done\r\n0\r\n\r\n"), rest
        early, rest = await exchange(b"HEAD /sized HTTP/1.1\r\nHost: x\r\n\r\n", b"\r\n\r\n")
        assert early.startswith(b"HTTP/1.1 200"), early
        assert b"content-length: 4" in early, early
        assert rest == b"", rest
    finally:
        release.set()
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_a_served_response_leaves_no_reference_cycle() -> None:
    """A response cycle and the transport that holds its head are freed by
    reference counting once the response is out: as a cycle they were left
    to the garbage collector, one per request, which then took about 7 % of
    a worker's CPU under a load of mutations."""
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    def cycles() -> int:
        return sum(1 for o in gc.get_objects() if type(o) is RequestResponseCycle)

    server, port, task = await _serve_with_header_timeout(10)
    gc.collect()
    gc.disable()
    try:
        before = cycles()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(20):
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (await asyncio.wait_for(reader.readuntil(b"ok"), 10)).startswith(b"HTTP/1.1")
        # The connection's protocol holds its latest cycle, and the header
        # timer the one before (HeaderTimeout._waiting_since); no other, once
        # the latest request's task has finished.
        for _ in range(100):
            if cycles() - before <= 2:
                break
            await asyncio.sleep(0.02)
        assert cycles() - before <= 2
        writer.close()
    finally:
        gc.enable()
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class _Recorder:
    """Stands in for a protocol handler: keeps what strawberry sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    async def send_message(self, message: dict[str, object]) -> None:
        self.sent.append(message)

    def forget_id(self, id: str) -> None:
        pass


def test_strawberry_ws_handlers_still_run_one_subscription_where_sharing_takes_over() -> None:
    from strawberry.asgi import ASGIWebSocketAdapter
    from strawberry.http.async_base_view import AsyncBaseHTTPView
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
        BaseGraphQLTransportWSHandler,
        Operation,
    )
    from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

    from graphql_petstore.api.library_internals import (
        SharingGraphQLWSHandler,
        SharingTransportWSHandler,
    )

    # The view builds its handlers from these two attributes.
    view_source = inspect.getsource(AsyncBaseHTTPView)
    assert "self.graphql_transport_ws_handler_class(" in view_source
    assert "self.graphql_ws_handler_class(" in view_source
    assert issubclass(PetstoreGraphQL.graphql_transport_ws_handler_class, SharingTransportWSHandler)
    assert issubclass(PetstoreGraphQL.graphql_ws_handler_class, SharingGraphQLWSHandler)
    # graphql-transport-ws: one task per subscription runs run_operation(operation).
    theirs = inspect.signature(BaseGraphQLTransportWSHandler.run_operation)
    assert list(theirs.parameters) == ["self", "operation"]
    assert "self.run_operation(operation)" in inspect.getsource(
        BaseGraphQLTransportWSHandler.handle_subscribe
    )
    for name in ("id", "query", "variables", "operation_name", "completed"):
        assert name in Operation.__slots__, name
    assert "forget_id" in inspect.getsource(Operation.send_operation_message)
    # graphql-ws: one task per subscription runs handle_async_results(...),
    # and the handler keeps it under `tasks` (and its source under `subscriptions`).
    legacy = inspect.signature(BaseGraphQLWSHandler.handle_async_results)
    assert list(legacy.parameters) == list(
        inspect.signature(SharingGraphQLWSHandler.handle_async_results).parameters
    )
    start_source = inspect.getsource(BaseGraphQLWSHandler.handle_start)
    assert "self.tasks[operation_id] = asyncio.create_task(result_handler)" in start_source
    cleanup_source = inspect.getsource(BaseGraphQLWSHandler.handle_async_results)
    assert "self.tasks.pop(operation_id, None)" in cleanup_source
    # The Starlette WebSocket is the adapter's `ws`.
    assert "self.ws = response" in inspect.getsource(ASGIWebSocketAdapter.__init__)


async def test_shared_payloads_are_built_as_strawberry_builds_them() -> None:
    from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation
    from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
    from strawberry.types import ExecutionResult

    from graphql_petstore.api.library_internals import next_payload

    results = [
        ExecutionResult(data={"a": 1}, errors=None),
        ExecutionResult(
            data={"a": None},
            errors=[GraphQLError("no", path=["a"], extensions={"code": "X"})],
            extensions={"route": "primary"},
        ),
    ]
    for result in results:
        recorder = _Recorder()
        operation = Operation(recorder, "7", "subscription { a }", None, None)  # type: ignore[arg-type]
        await operation.send_next(result)
        [message] = recorder.sent
        assert list(message) == ["id", "type", "payload"]
        assert message["payload"] == next_payload(result)
        legacy = _Recorder()
        await BaseGraphQLWSHandler.send_data_message(legacy, result, "7")  # type: ignore[arg-type]
        [data] = legacy.sent
        assert list(data) == ["type", "id", "payload"]
        assert data["payload"] == next_payload(result)


# --- uvicorn: a shared subscription writes its frames to the socket itself ------------


async def _serve_websocket(app: Any, ws: str) -> tuple[Any, int, Any]:
    config = uvicorn.Config(
        SinkMiddleware(app), host="127.0.0.1", port=0, ws=ws, log_level="warning"
    )
    server = uvicorn.Server(config)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.01)
    return server, port, task


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_uvicorn_websockets_protocol_still_takes_frames_from_a_sink(
    compression: str | None,
) -> None:
    """Frames written to the sink and frames sent through ASGI reach a real
    client in the order written, compressed or not; a paused transport or a
    closed socket is not ready."""
    import websockets

    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        sink = frame_sink(scope)
        seen["sink"] = sink
        assert sink is not None, "uvicorn's default WebSocket protocol has changed"
        assert not sink.ready(), "ready before the handshake"
        await send({"type": "websocket.accept"})
        assert sink.ready()
        sink.send(b'{"n":1}')
        sink.send(b'{"n":2}')
        sink.flush()
        await send({"type": "websocket.send", "text": '{"n":3}'})
        protocol = send.__self__
        protocol.pause_writing()
        seen["paused_ready"] = sink.ready()
        protocol.resume_writing()
        await receive()  # the client's close
        seen["closed_ready"] = sink.ready()

    server, port, task = await _serve_websocket(app, "auto")
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/", compression=compression) as client:
            received = [await asyncio.wait_for(client.recv(), 10) for _ in range(3)]
        assert received == ['{"n":1}', '{"n":2}', '{"n":3}']
        await asyncio.sleep(0.2)
        assert seen["paused_ready"] is False
        assert seen["closed_ready"] is False
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_other_websocket_protocols_get_no_sink() -> None:
    """wsproto (or a wrapped send) falls back to the ASGI send: no sink."""
    import websockets

    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        seen["sink"] = frame_sink(scope)
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "x"})

    server, port, task = await _serve_websocket(app, "wsproto")
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:
            assert await asyncio.wait_for(client.recv(), 10) == "x"
        assert "sink" in seen
        assert seen["sink"] is None
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def test_prometheus_histograms_still_take_observations_in_bulk() -> None:
    from bisect import bisect_left

    from prometheus_client import CollectorRegistry, Histogram

    from graphql_petstore.api.library_internals import add_observations

    bounds = (0.01, 0.1, 1.0)
    values = [0.0, 0.01, 0.05, 0.1, 0.5, 1.0, 7.0, 0.02]
    observed, bulk = (
        Histogram("h", "h", ["kind"], buckets=bounds, registry=CollectorRegistry())
        for _ in range(2)
    )
    for value in values:
        observed.labels("a").observe(value)
    upper = (*bounds, float("inf"))
    counts = [0] * len(upper)
    for value in values:
        counts[bisect_left(upper, value)] += 1
    add_observations(bulk.labels("a"), counts, sum(values))

    def samples(histogram: Histogram) -> list[tuple[str, dict[str, str], float]]:
        return [(s.name, s.labels, s.value) for m in histogram.collect() for s in m.samples]

    assert samples(bulk) == samples(observed)
    assert bulk.labels("a")._upper_bounds == list(upper)
