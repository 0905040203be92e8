"""A request's ids and its consistency token (read by envelope.py), and
caps on concurrent WebSocket connections and their messages' size (an HTTP
request's bounds are in deadline.py)."""

from __future__ import annotations

import json
import re
import uuid
from random import getrandbits

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_petstore.database.consistency import MalformedTokenError, parse_token
from graphql_petstore.observability import metrics

REQUEST_ID_HEADER = "x-request-id"
SERVER_REQUEST_ID_HEADER = "petstore-request-id"
_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_REQUEST_ID_HEADER = REQUEST_ID_HEADER.encode()
_SERVER_REQUEST_ID_HEADER = SERVER_REQUEST_ID_HEADER.encode()


def request_ids(given: bytes | None) -> tuple[str, str | None]:
    """A request's id of the server's own, and the client's X-Request-ID
    (`given`) when it is sane, else None.

    The server's id is the one in logs, in masked errors, and the requestId
    stored in an event's metadata (the audit trail names requests the server
    made the ids of, not ones a client chose); the client's is logged with
    the access line and echoed in X-Request-ID (without one, X-Request-ID is
    the server's id). Petstore-Request-ID is always the server's."""
    # Unique, not secret (it is echoed to the client): 128 random bits
    # from the process's generator, without uuid4's system call and object.
    request_id = f"{getrandbits(128):032x}"
    if given is not None:
        text = given.decode("latin-1")
        if _ACCEPTABLE_REQUEST_ID.match(text):
            return request_id, text
    return request_id, None


def id_headers(request_id: str, client_request_id: str | None) -> list[tuple[bytes, bytes]]:
    """The response headers that name a request (see request_ids)."""
    echoed = request_id if client_request_id is None else client_request_id
    return [
        (_REQUEST_ID_HEADER, echoed.encode()),
        (_SERVER_REQUEST_ID_HEADER, request_id.encode()),
    ]


def consistency_token(given: bytes) -> uuid.UUID | None:
    """The event id that a Petstore-Consistency-Token header names, for both
    request paths; None: malformed (refused with refuse_token before either
    sees the request)."""
    try:
        return parse_token(given.decode("latin-1").strip())
    except MalformedTokenError:
        return None


# The code of refuse_token's error.
TOKEN_REFUSED = "BAD_USER_INPUT"


async def refuse_token(send: Send) -> None:
    await refuse(
        send,
        400,
        "the Petstore-Consistency-Token header is not a token that this server "
        "made: send a mutation's consistencyToken as it came, or no header",
        TOKEN_REFUSED,
    )


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
