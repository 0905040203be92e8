"""What bounds an HTTP request: its body's size and arrival, every GraphQL
request's time limit, and its end when its client goes away.

A body larger than PETSTORE_MAX_BODY_BYTES gets 413, whether its
Content-Length says so or it only turns out so while streaming; one that has
not arrived whole PETSTORE_BODY_READ_TIMEOUT seconds after the app first
asked for it gets 408 (a client that trickles its body holds a connection
and a request for as long as it likes otherwise).

A GraphQL request runs in its own task (uvicorn's); past
PETSTORE_REQUEST_TIMEOUT, or as soon as the server hears `http.disconnect`,
that task is cancelled: whatever it awaits stops, including its statement
(asyncpg asks PostgreSQL to cancel it; database/pool.py takes the connection
back once it has). A request stopped by its time limit before it answered
gets REQUEST_TIMEOUT (HTTP 503, retryable); one whose client is gone gets
nothing.

Writes are never stopped halfway: before an append is sent, the request
`hold()`s, and from then on it runs to its end, time limit or not, client or
not. Its outcome is then always what the client hears (if it still listens):
stored, or nothing stored, or APPEND_OUTCOME_UNKNOWN — never a time-out that
hides a committed event (database/appends.py bounds the write's own waits).

All of these are one object with one timer for all the requests in
flight (the sweep): a timer per request and per bound cost more than the
rest of this work together (bench/request_path_bench.py). The envelope
(envelope.py) runs every HTTP request through it.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_petstore import error_codes
from graphql_petstore.api import retryable
from graphql_petstore.middleware import refuse

# Requests that carry no body: their client may go away from the start.
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})

GRAPHQL_PATH = "/graphql"
# A request answered within this time never needs its client watched: the
# watcher, a task per request, is only started for the slower ones.
WATCH_AFTER = 0.05
# How often the sweep looks over the requests in flight while there are
# any, to start watching the clients of the slower ones (to within this of
# WATCH_AFTER); the time limits and body deadlines it meets exactly.
SWEEP_EVERY = 0.025
_TIME_LIMIT = "time limit"
_CLIENT_GONE = "client gone"
_BODY_TOO_SLOW = "body too slow"
_DISCONNECT: Message = {"type": "http.disconnect"}


class _TooLarge(Exception):
    pass


class _Request:
    """One request in flight: what stopping it needs, and its view of the
    ASGI messages (the body as it comes, then a watch for the disconnect)."""

    __slots__ = (
        "answered",
        "body_at",
        "body_read",
        "early",
        "gone",
        "held",
        "limit_at",
        "limits",
        "loop",
        "receive",
        "received",
        "started",
        "stopping",
        "task",
        "watch_at",
        "watcher",
    )

    def __init__(
        self,
        limits: RequestLimits,
        task: asyncio.Task[object],
        receive: Receive,
        limit_at: float,
    ) -> None:
        self.limits = limits
        self.task = task
        # Kept: asyncio.get_running_loop() makes a getpid(2) on each call (CPython 3.11).
        self.loop = task.get_loop()
        self.receive = receive
        self.limit_at = limit_at
        self.held = False
        self.answered = False
        self.started = False
        self.stopping: str | None = None
        self.body_read = False
        self.received = 0
        # When the body must be in: None until the app asks for it, then
        # inf when there is no bound, or once it is in.
        self.body_at: float | None = None
        # When to start watching for the client's disconnect (None: not yet,
        # or started, or never: a request that is not a GraphQL one).
        self.watch_at: float | None = None
        self.watcher: asyncio.Task[None] | None = None
        # What the watcher heard before the app asked for it, made when needed.
        self.early: deque[Message] | None = None
        self.gone: asyncio.Event | None = None

    def stop(self, reason: str) -> None:
        if self.held or self.answered or self.stopping is not None:
            return
        self.stopping = reason
        self.task.cancel()

    def start_watching(self) -> None:
        self.watch_at = None
        if self.watcher is None:
            self.watcher = self.loop.create_task(self._watch())

    def _gone(self) -> asyncio.Event:
        if self.gone is None:
            self.gone = asyncio.Event()
        return self.gone

    async def _watch(self) -> None:
        # Once the body is in, the next message the server has for this
        # request is http.disconnect (uvicorn: the client closed, or the
        # response was sent).
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self._gone().set()
                self.stop(_CLIENT_GONE)
                return
            if self.early is None:
                self.early = deque()
            self.early.append(message)

    async def receive_body(self) -> Message:
        if self.body_read:
            if self.early:
                return self.early.popleft()
            if self.limit_at == math.inf:
                return await self.receive()  # not a GraphQL request: nobody watches
            self.start_watching()
            await self._gone().wait()
            return _DISCONNECT
        if self.body_at is None:
            self.limits.body_asked(self)
        message = await self.receive()
        if message["type"] == "http.disconnect":
            self.body_read = True
            self._gone().set()
        elif message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limits.max_bytes:
                raise _TooLarge
            if not message.get("more_body", False):
                self.body_read = True
                self.body_at = math.inf
                if self.limit_at != math.inf:
                    self.watch_at = self.loop.time() + WATCH_AFTER
        return message

    def note(self, message: Message) -> None:
        """A message on its way to the client (the envelope's send tells each)."""
        kind = message["type"]
        if kind == "http.response.start":
            self.started = True
        elif kind == "http.response.body" and not message.get("more_body"):
            self.answered = True


_current: ContextVar[_Request | None] = ContextVar("petstore_request", default=None)


def hold() -> None:
    """The current request is about to send a write: it is no longer
    stopped, by its time limit or its client. Raises CancelledError when it
    is being stopped already (then nothing was sent)."""
    request = _current.get()
    if request is None:
        return
    if request.stopping is not None:
        raise asyncio.CancelledError
    request.held = True


class RequestLimits:
    """413 and 408 for any HTTP request's body (`max_bytes`,
    `body_read_timeout`); the time limit (`timeout`) and the watch for the
    client for GraphQL requests. The envelope (envelope.py) runs every HTTP
    request through it: admit(), then run() with a send that note()s each
    message on the request."""

    def __init__(
        self,
        timeout: float,
        max_bytes: int,
        body_read_timeout: float | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.body_read_timeout = body_read_timeout
        self._in_flight: set[_Request] = set()
        self._sweeping: asyncio.TimerHandle | None = None
        self._sweep_at = 0.0

    def declared_too_large(self, declared: bytes | None) -> bool:
        """Whether a Content-Length says the body is larger than allowed."""
        return declared is not None and declared.isdigit() and int(declared) > self.max_bytes

    def admit(self, scope: Scope, receive: Receive) -> _Request:
        """The request in flight that run() runs (the current task's)."""
        task = asyncio.current_task()
        assert task is not None
        now = task.get_loop().time()
        # The probes, /metrics and GraphiQL's assets bound themselves; and a
        # health checker that half-closes its socket once it has sent its
        # request (HAProxy's) still wants the answer.
        graphql = scope["path"] == GRAPHQL_PATH
        request = _Request(self, task, receive, now + self.timeout if graphql else math.inf)
        if scope["method"] in _BODILESS:
            request.body_read = True
            if graphql:
                request.watch_at = now + WATCH_AFTER
        return request

    async def run(self, request: _Request, scope: Scope, app: ASGIApp, send: Send) -> None:
        """Runs `app` on the request within its bounds; `send` is the way to
        the client, which note()s each message on the request."""
        token = _current.set(request) if scope["path"] == GRAPHQL_PATH else None
        self._in_flight.add(request)
        loop = request.loop
        self._sweep_by(loop, min(loop.time() + SWEEP_EVERY, request.limit_at))
        try:
            await app(scope, request.receive_body, send)
        except _TooLarge:
            if not request.started:
                await self.too_large(send)
        except asyncio.CancelledError:
            if request.stopping is None or request.task.uncancel() > 0:
                raise  # cancelled by someone else (the server shutting down)
            if request.started:
                pass
            elif request.stopping == _TIME_LIMIT:
                await _timed_out(send, self.timeout)
            elif request.stopping == _BODY_TOO_SLOW:
                await refuse(
                    send,
                    408,
                    f"the request body did not arrive within {self.body_read_timeout:g} s",
                    error_codes.REQUEST_READ_TIMEOUT,
                    close=True,
                )
        finally:
            self._in_flight.discard(request)
            if request.watcher is not None:
                request.watcher.cancel()
            if token is not None:
                _current.reset(token)

    def body_asked(self, request: _Request) -> None:
        """The app asks for the body for the first time: from now on it has
        body_read_timeout seconds to arrive."""
        if self.body_read_timeout is None:
            request.body_at = math.inf
            return
        loop = request.loop
        request.body_at = loop.time() + self.body_read_timeout
        self._sweep_by(loop, request.body_at)

    def _sweep_by(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._sweeping is not None:
            if self._sweep_at <= when:
                return
            self._sweeping.cancel()
        self._sweep_at = when
        self._sweeping = loop.call_at(when, self._sweep)

    def _sweep(self) -> None:
        self._sweeping = None
        if not self._in_flight:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        next_at = now + SWEEP_EVERY
        for request in tuple(self._in_flight):
            if now >= request.limit_at:
                request.stop(_TIME_LIMIT)
                continue
            body_at = request.body_at
            if body_at is not None:
                if now >= body_at:
                    request.stop(_BODY_TOO_SLOW)
                    continue
                next_at = min(next_at, body_at)
            next_at = min(next_at, request.limit_at)
            if request.watch_at is not None and now >= request.watch_at:
                request.start_watching()
        self._sweep_by(loop, next_at)

    async def too_large(self, send: Send) -> None:
        await refuse(
            send,
            413,
            f"request body is larger than {self.max_bytes} bytes",
            error_codes.PAYLOAD_TOO_LARGE,
        )


async def _timed_out(send: Send, limit: float) -> None:
    body = json.dumps(
        {
            "errors": [
                {
                    "message": f"the request ran past its time limit ({limit:g} s) and was "
                    "stopped; retry",
                    "extensions": {"code": error_codes.REQUEST_TIMEOUT, "retryable": True},
                }
            ]
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *retryable.headers(),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
