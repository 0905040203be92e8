"""ASGI middleware: a request id on every request, the consistency token,
caps on concurrent WebSocket connections and their messages' size (an HTTP
request's bounds are in deadline.py)."""

from __future__ import annotations

import json
import re
from random import getrandbits

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_petstore.database.consistency import TOKEN_HEADER, MalformedTokenError, parse_token
from graphql_petstore.observability import metrics

REQUEST_ID_HEADER = "x-request-id"
SERVER_REQUEST_ID_HEADER = "petstore-request-id"
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_REQUEST_ID_HEADER = REQUEST_ID_HEADER.encode()
_SERVER_REQUEST_ID_HEADER = SERVER_REQUEST_ID_HEADER.encode()


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
        # Unique, not secret (it is echoed to the client): 128 random bits
        # from the process's generator, without uuid4's system call and object.
        request_id = f"{getrandbits(128):032x}"
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        echoed = request_id
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_HEADER:
                given = value.decode("latin-1")
                if _ACCEPTABLE_REQUEST_ID.match(given):
                    state["client_request_id"] = echoed = given
        added = [
            (_REQUEST_ID_HEADER, echoed.encode()),
            (_SERVER_REQUEST_ID_HEADER, request_id.encode()),
        ]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *added]
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
                await refuse(
                    send,
                    400,
                    "the Petstore-Consistency-Token header is not a token that this server "
                    "made: send a mutation's consistencyToken as it came, or no header",
                    "BAD_USER_INPUT",
                )
                return
            scope.setdefault("state", {})["consistency_token"] = token
        await self.app(scope, receive, send)


async def refuse(send: Send, status: int, message: str, code: str, close: bool = False) -> None:
    """Answers an HTTP request with `status` and one error of `code`."""
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
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
