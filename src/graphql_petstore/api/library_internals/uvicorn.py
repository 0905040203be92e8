"""What the server relies on in uvicorn beyond its documented API (see the
package's docstring).

- uvicorn has no timeout for a request's line and headers (a client that
  sends them a byte at a time holds its socket for ever). Its HTTP protocol
  classes (httptools' and h11's) are asyncio protocols that set
  `self.cycle` when a request's headers are complete, and take a protocol
  class of ours (Config(http=…)): `with_header_timeout` subclasses the one
  uvicorn would pick and closes, with 408, a connection whose request line
  and headers take longer than the timeout.
- A response whose body has a known length leaves in one write(2), its
  status line and headers together with its body: uvicorn's httptools
  protocol writes the head as soon as the app sends `http.response.start`,
  and the body apart, which on loopback costs a second send, with its
  wake-up of the reader, per request. `HeaderTimeout.on_headers_complete`
  gives the cycle it made (httptools_impl.RequestResponseCycle, its
  `transport` attribute) a `_HeadWithBody` in front of the transport, which
  holds the head until the body's first bytes; it reads the cycle's
  `response_started`, `chunked_encoding`, `expected_content_length` and
  `scope`. Under h11's protocol (no `on_headers_complete`) nothing changes.
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
"""

from __future__ import annotations

import asyncio
from typing import Any

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


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

        def on_headers_complete(self) -> None:
            before = self.cycle
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not before and cycle.transport is self.transport:
                cycle.transport = _HeadWithBody(self.transport, cycle)

        def _arm(self) -> None:
            self._disarm()
            self._waiting_since = self.cycle
            # uvicorn's protocols keep their loop: asyncio.get_running_loop()
            # would make a getpid(2) on every request (CPython 3.11).
            self._header_timer = self.loop.call_later(seconds, self._too_slow)

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


class _HeadWithBody:
    """A response cycle's transport that holds the response's head (status
    line and headers) when a body of known length follows, and writes both
    at once when the body's first bytes come. A head with no body to follow
    (HEAD, 204, chunked, an empty body) goes out at once; so does one held
    when the cycle closes the transport instead (an app that failed midway)."""

    __slots__ = ("_cycle", "_held", "_past_head", "_transport")

    def __init__(self, transport: Any, cycle: Any) -> None:
        self._transport = transport
        self._cycle: Any = cycle
        self._held: bytes | None = None
        self._past_head = False

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
            return
        if not self._past_head:
            cycle = self._cycle
            # The first write once the response started is its head (the only
            # one before it is "100 Continue").
            if cycle.response_started:
                self._past_head = True
                # The cycle holds this transport: let go of it, so that the
                # two are freed by reference counting when the response is
                # done, not left as a cycle for the garbage collector (one
                # per request: it ran a collection every few dozen requests).
                self._cycle = None
                if (
                    cycle.chunked_encoding is False
                    and cycle.expected_content_length > 0
                    and cycle.scope["method"] != "HEAD"
                ):
                    self._held = data
                    return
        self._transport.write(data)

    def close(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._transport.write(held)
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


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
