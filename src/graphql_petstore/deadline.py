"""Every GraphQL request's time limit, and its end when its client goes away.

The request runs in its own task (uvicorn's); past PETSTORE_REQUEST_TIMEOUT,
or as soon as the server hears `http.disconnect`, that task is cancelled:
whatever it awaits stops, including its statement (asyncpg asks PostgreSQL
to cancel it; database/pool.py takes the connection back once it has).
A request stopped by its time limit before it answered gets REQUEST_TIMEOUT
(HTTP 503, retryable); one whose client is gone gets nothing.

Writes are never stopped halfway: before an append is sent, the request
`hold()`s, and from then on it runs to its end, time limit or not, client or
not. Its outcome is then always what the client hears (if it still listens):
stored, or nothing stored, or APPEND_OUTCOME_UNKNOWN — never a time-out that
hides a committed event (database/appends.py bounds the write's own waits).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_petstore import error_codes
from graphql_petstore.api import retryable

# Requests that carry no body: their client may go away from the start.
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})

GRAPHQL_PATH = "/graphql"
# A request answered within this time never needs its client watched: the
# watcher, a task per request, is only started for the slower ones.
WATCH_AFTER = 0.05
_TIME_LIMIT = "time limit"
_CLIENT_GONE = "client gone"


class _Request:
    __slots__ = ("answered", "held", "stopping", "task")

    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task = task
        self.held = False
        self.answered = False
        self.stopping: str | None = None

    def stop(self, reason: str) -> None:
        if self.held or self.answered or self.stopping is not None:
            return
        self.stopping = reason
        self.task.cancel()


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


class RequestDeadlineMiddleware:
    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != GRAPHQL_PATH:
            # The probes, /metrics and GraphiQL's assets bound themselves; and
            # a health checker that half-closes its socket once it has sent
            # its request (HAProxy's) still wants the answer.
            await self.app(scope, receive, send)
            return
        task = asyncio.current_task()
        assert task is not None
        request = _Request(task)
        token = _current.set(request)
        timer = asyncio.get_running_loop().call_later(self.timeout, request.stop, _TIME_LIMIT)
        gone = asyncio.Event()
        early: deque[Message] = deque()  # what the watcher heard before the app asked
        body_read = scope["method"] in _BODILESS
        loop = asyncio.get_running_loop()
        watcher: asyncio.Task[None] | None = None
        watching: asyncio.TimerHandle | None = None
        started = False

        async def watch() -> None:
            # Once the body is in, the next message the server has for this
            # request is http.disconnect (uvicorn: the client closed, or the
            # response was sent).
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    request.stop(_CLIENT_GONE)
                    return
                early.append(message)

        def start_watching() -> None:
            nonlocal watcher
            if watcher is None:
                watcher = loop.create_task(watch())

        def watch_from_now() -> None:
            nonlocal watching
            watching = loop.call_later(WATCH_AFTER, start_watching)

        async def receive_body() -> Message:
            nonlocal body_read
            if body_read:
                if early:
                    return early.popleft()
                start_watching()
                await gone.wait()
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.disconnect":
                body_read = True
                gone.set()
            elif not message.get("more_body", False):
                body_read = True
                watch_from_now()
            return message

        async def send_noting(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                request.answered = True
            await send(message)

        if body_read:
            watch_from_now()
        try:
            await self.app(scope, receive_body, send_noting)
        except asyncio.CancelledError:
            if request.stopping is None or task.uncancel() > 0:
                raise  # cancelled by someone else (the server shutting down)
            if request.stopping == _TIME_LIMIT and not started:
                await _timed_out(send, self.timeout)
        finally:
            timer.cancel()
            if watching is not None:
                watching.cancel()
            if watcher is not None:
                watcher.cancel()
            _current.reset(token)


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
