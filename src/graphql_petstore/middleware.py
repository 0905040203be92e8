"""ASGI middleware: a request id on every request, the consistency token,
caps on body size and on concurrent WebSocket connections."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_petstore import error_codes
from graphql_petstore.database.consistency import TOKEN_HEADER, MalformedTokenError, parse_token
from graphql_petstore.observability import metrics

REQUEST_ID_HEADER = "x-request-id"
SERVER_REQUEST_ID_HEADER = "petstore-request-id"
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Gives every request an id of the server's own, in
    scope["state"]["request_id"]: the id in logs, in masked errors, and the
    requestId stored in an event's metadata (the audit trail names requests
    the server made the ids of, not ones a client chose). A client's sane
    X-Request-ID is kept as scope["state"]["client_request_id"], logged with
    the access line and echoed in X-Request-ID; without one, X-Request-ID is
    the server's id. Petstore-Request-ID is always the server's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        echoed = request_id
        if _ACCEPTABLE_REQUEST_ID.match(given):
            state["client_request_id"] = echoed = given

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), echoed.encode()))
                headers.append((SERVER_REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class ConsistencyTokenMiddleware:
    """Reads the Petstore-Consistency-Token header into
    scope["state"]["consistency_token"] (the event id it names), for both
    request paths; a malformed one is refused with 400 before either sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(TOKEN_HEADER.encode())
        if given is not None:
            try:
                token = parse_token(given.decode("latin-1").strip())
            except MalformedTokenError:
                await _refuse(
                    send,
                    400,
                    "the Petstore-Consistency-Token header is not a token that this server "
                    "made: send a mutation's consistencyToken as it came, or no header",
                    "BAD_USER_INPUT",
                )
                return
            scope.setdefault("state", {})["consistency_token"] = token
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, message: str, code: str, close: bool = False) -> None:
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Answers 413 to a request body larger than `max_bytes`, whether it says
    so in Content-Length or only turns out so while streaming, and 408 to a
    body that has not arrived whole `read_timeout` seconds after the app
    first asked for it (a client that trickles its body holds a connection
    and a request for as long as it likes otherwise)."""

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return

        received = 0
        response_started = False
        body_complete = False
        deadline: float | None = None

        async def counting_receive() -> Message:
            nonlocal received, body_complete, deadline
            if body_complete or self.read_timeout is None:
                message = await receive()
            else:
                loop = asyncio.get_running_loop()
                if deadline is None:
                    deadline = loop.time() + self.read_timeout
                try:
                    message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
                except TimeoutError:
                    raise _TooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await self._too_large(send)
        except _TooSlow:
            if not response_started:
                await _refuse(
                    send,
                    408,
                    f"the request body did not arrive within {self.read_timeout:g} s",
                    error_codes.REQUEST_READ_TIMEOUT,
                    close=True,
                )

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            {
                "errors": [
                    {
                        "message": f"request body is larger than {self.max_bytes} bytes",
                        "extensions": {"code": "PAYLOAD_TOO_LARGE"},
                    }
                ]
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class WebSocketLimitMiddleware:
    """Refuses WebSocket connections beyond `max_connections` per process, with
    close code 1013 (try again later) and a reason that says why, and closes a
    connection with 1009 (message too big) when a message is larger than
    `max_message_bytes`: the same limit as an HTTP body's. (uvicorn is told
    the same limit, so that it does not even buffer such a message; this is
    the rule for any server.)"""

    def __init__(
        self, app: ASGIApp, max_connections: int, max_message_bytes: int | None = None
    ) -> None:
        self.app = app
        self.max_connections = max_connections
        self.max_message_bytes = max_message_bytes
        self.open = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        if self.open >= self.max_connections:
            # Accept, then close with a reason: a refused handshake would reach
            # the client as a bare HTTP 403.
            await receive()  # websocket.connect
            offered = scope.get("subprotocols") or []
            await send({"type": "websocket.accept", "subprotocol": offered[0] if offered else None})
            await send(
                {
                    "type": "websocket.close",
                    "code": 1013,
                    "reason": f"too many connections (at most {self.max_connections})",
                }
            )
            return
        self.open += 1
        metrics.record_websocket(opened=True)
        try:
            await self.app(scope, self._limited(receive, send), send)
        finally:
            self.open -= 1
            metrics.record_websocket(opened=False)

    def _limited(self, receive: Receive, send: Send) -> Receive:
        limit = self.max_message_bytes
        if limit is None:
            return receive

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                size = len(message.get("bytes") or b"") if text is None else len(text.encode())
                if size > limit:
                    reason = f"message larger than {limit} bytes"
                    await send({"type": "websocket.close", "code": 1009, "reason": reason})
                    return {"type": "websocket.disconnect", "code": 1009, "reason": reason}
            return message

        return limited_receive


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass
