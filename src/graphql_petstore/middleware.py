"""ASGI middleware: a request id on every request, the consistency token,
caps on body size and on concurrent WebSocket connections."""

from __future__ import annotations

import json
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_petstore.database.consistency import TOKEN_HEADER, MalformedTokenError, parse_token
from graphql_petstore.observability import metrics

REQUEST_ID_HEADER = "x-request-id"
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Takes X-Request-ID from the client when it is sane, else makes one;
    stores it in scope["state"]["request_id"] and echoes it in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = given if _ACCEPTABLE_REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
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


async def _refuse(send: Send, status: int, message: str, code: str) -> None:
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Answers 413 to a request body larger than `max_bytes`, whether it says
    so in Content-Length or only turns out so while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

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

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
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
    close code 1013 (try again later) and a reason that says why."""

    def __init__(self, app: ASGIApp, max_connections: int) -> None:
        self.app = app
        self.max_connections = max_connections
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
            await self.app(scope, receive, send)
        finally:
            self.open -= 1
            metrics.record_websocket(opened=False)


class _TooLarge(Exception):
    pass
