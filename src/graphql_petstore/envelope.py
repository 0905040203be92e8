"""Every HTTP request's way in and out, in one ASGI layer.

In the order in which it applies them:

1. its ids (middleware.request_ids): the server's own, and the client's
   X-Request-ID when sane, in scope["state"] and in the response's headers;
2. its record (observability/requests.py), current while it is served: the
   operation's metrics and the access line once it is answered. An exception
   that escapes the app is logged at ERROR with its traceback and request id
   and answered with a 500 that carries the request id, as Starlette's
   ServerErrorMiddleware would;
3. its consistency token (middleware.consistency_token) in
   scope["state"]["consistency_token"]; a malformed one is refused with 400
   (recorded, as any refused request);
4. its bounds (deadline.RequestLimits): the body's size and arrival, the
   time limit, the watch for a client that went away.

Each is its own module's business; they meet here, in one layer with one
look at the headers and one send for all four. As four nested middlewares
(each with its own frame and look at the headers, three of them with a send
wrapped around the next one's) they cost a point read 3.7 % more
instructions than this layer, and a mutation 2.5 % more
(bench/request_path_bench.py).

A WebSocket connection gets its ids here too, and nothing else.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_petstore.database.consistency import TOKEN_HEADER
from graphql_petstore.deadline import RequestLimits
from graphql_petstore.middleware import (
    REQUEST_ID_HEADER,
    TOKEN_REFUSED,
    consistency_token,
    id_headers,
    refuse_token,
    request_ids,
)
from graphql_petstore.observability import tracing
from graphql_petstore.observability.current import CURRENT_REQUEST
from graphql_petstore.observability.metrics import GRAPHQL_ERROR, INTERNAL_ERROR
from graphql_petstore.observability.requests import (
    INTERNAL_SERVER_ERROR,
    RequestRecord,
    finish,
    internal_error,
)
from graphql_petstore.settings import Settings

logger = logging.getLogger("graphql_petstore.errors")

_REQUEST_ID = REQUEST_ID_HEADER.encode()
_TOKEN = TOKEN_HEADER.encode()
_AUTHORIZATION = b"authorization"
_CONTENT_LENGTH = b"content-length"
_START = "http.response.start"


class Envelope:
    """The layer (see the module's docstring). A WebSocket gets its ids and
    passes through, as does anything else but HTTP."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.limits = RequestLimits(
            timeout=settings.request_timeout,
            max_bytes=settings.max_body_bytes,
            body_read_timeout=settings.body_read_timeout,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                _name(scope, dict(scope["headers"]))
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id, client_request_id = _name(scope, headers)
        state = scope["state"]
        added = id_headers(request_id, client_request_id)

        authorization = headers.get(_AUTHORIZATION)
        record = RequestRecord(
            request_id=request_id,
            method=scope["method"],
            path=scope["path"],
            authorization=None if authorization is None else authorization.decode("latin-1"),
            client_request_id=client_request_id,
        )
        current = CURRENT_REQUEST.set(record)
        if tracing.enabled():
            tracing.annotate(**{"petstore.request_id": request_id})
            if client_request_id is not None:
                tracing.annotate(**{"petstore.client_request_id": client_request_id})
        limits = self.limits
        request = limits.admit(scope, receive)

        async def respond(message: Message) -> None:
            if message["type"] == _START:
                message["headers"] = [*message.get("headers", ()), *added]
                record.status = message["status"]
            request.note(message)
            await send(message)

        try:
            given_token = headers.get(_TOKEN)
            token = None if given_token is None else consistency_token(given_token)
            if given_token is not None and token is None:
                record.note_outcome(GRAPHQL_ERROR, TOKEN_REFUSED)
                await refuse_token(respond)
            elif limits.declared_too_large(headers.get(_CONTENT_LENGTH)):
                await limits.too_large(respond)
            else:
                if token is not None:
                    state["consistency_token"] = token
                await limits.run(request, scope, self.app, respond)
        except Exception:
            logger.error("request %s: unexpected error", request_id, exc_info=True)
            record.note_outcome(INTERNAL_ERROR, INTERNAL_SERVER_ERROR)
            if record.status is not None:
                raise  # too late for an answer of our own; uvicorn closes the connection
            await internal_error(respond, request_id)
        finally:
            try:
                finish(record, self.settings)
            finally:
                CURRENT_REQUEST.reset(current)


def _name(scope: Scope, headers: dict[bytes, bytes]) -> tuple[str, str | None]:
    """The request's ids (middleware.request_ids), in scope["state"] as
    request_id and, when sane, client_request_id."""
    request_id, client_request_id = request_ids(headers.get(_REQUEST_ID))
    state = scope.setdefault("state", {})
    state["request_id"] = request_id
    if client_request_id is not None:
        state["client_request_id"] = client_request_id
    return request_id, client_request_id
