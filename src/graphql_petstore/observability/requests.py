"""One request as it is served: what it asked (operation type and name), how it
ended (outcome and code), who asked (the token's name, never the token), and
the access line and operation metrics it leaves.

The envelope (graphql_petstore.envelope) makes a RequestRecord for each HTTP
request and makes it current (graphql_petstore.observability.current).
Whatever answers the request notes what it learns on the record: strawberry's
path through the ObserveOperations extension, any other path (the compiled
path) through the same note_* methods. When the response is sent the
envelope calls finish(): the operation's metrics and one access line.
Operations over a WebSocket have no HTTP request: each makes its own record
and finishes it itself (graphql_petstore.observability.operations).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from starlette.types import Send

from graphql_petstore.auth import bearer_name
from graphql_petstore.observability import access_lines, metrics, tracing
from graphql_petstore.observability.logs import (
    cut,
    fields_after_head,
    process_id,
    write_json_bytes,
    write_json_object,
)
from graphql_petstore.observability.metrics import (
    GRAPHQL_ERROR,
    INTERNAL_ERROR,
    OK,
    UNKNOWN_OPERATION,
    USER_ERROR,
)
from graphql_petstore.settings import Settings

ACCESS_LOGGER = "graphql_petstore.access"
access_logger = logging.getLogger(ACCESS_LOGGER)

GRAPHQL_PATH = "/graphql"
# Probes and scrapes arrive every few seconds: their access lines are DEBUG.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
MAX_LOGGED_NAME = 100
# A POST to /graphql refused before any operation ran (malformed body, too large).
HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
# An outcome replaces an earlier one only when it is worse.
_RANK = {OK: 0, USER_ERROR: 1, GRAPHQL_ERROR: 2, INTERNAL_ERROR: 3}


# Slots: a live subscription holds one until it ends.
@dataclass(eq=False, slots=True)
class RequestRecord:
    request_id: str
    transport: str = "http"  # or "websocket"
    method: str = ""
    path: str = GRAPHQL_PATH
    authorization: str | None = field(default=None, repr=False)  # never logged
    started: float = field(default_factory=time.perf_counter)
    operation_type: str | None = None
    operation_name: str | None = None
    document: str | None = None  # kept for the log only when the outcome is an error
    outcome: str | None = None
    code: str = ""
    error: str | None = None
    actor: str | None = None
    status: int | None = None
    messages: int | None = None  # results sent, for a subscription
    client_request_id: str | None = None  # the client's X-Request-ID, when sane

    @classmethod
    def over_websocket(cls, request_id: str, context: Any) -> RequestRecord:
        """An operation over a WebSocket, a request of its own: it carries
        what the connection's upgrade request gave its context (the
        Authorization header, the client's X-Request-ID)."""
        return cls(
            request_id=request_id,
            transport="websocket",
            authorization=getattr(context, "authorization", None),
            client_request_id=getattr(context, "client_request_id", None),
        )

    def note_operation(
        self, operation_type: str, operation_name: str | None, document: str | None = None
    ) -> None:
        self.operation_type = operation_type
        self.operation_name = operation_name
        self.document = document

    def note_outcome(self, outcome: str, code: str = "", message: str | None = None) -> None:
        if self.outcome is None or _RANK[outcome] > _RANK[self.outcome]:
            self.outcome, self.code, self.error = outcome, code, message

    def note_user_error(self, code: str) -> None:
        """A mutation answered with userErrors (nothing stored)."""
        self.note_outcome(USER_ERROR, code)

    def note_errors(
        self, errors: Iterable[GraphQLError | Mapping[str, Any]], default_code: str
    ) -> None:
        """Top-level GraphQL errors, as graphql-core's objects or as the JSON
        sent; `default_code` for one that carries no extensions.code."""
        for error in errors:
            extensions: Mapping[str, Any]
            message: object
            if isinstance(error, GraphQLError):
                extensions, message = error.extensions or {}, error.message
            else:
                extensions, message = error.get("extensions") or {}, error.get("message")
            code = str(extensions.get("code") or default_code)
            outcome = INTERNAL_ERROR if code == INTERNAL_SERVER_ERROR else GRAPHQL_ERROR
            self.note_outcome(outcome, code, None if message is None else str(message))

    def seconds(self) -> float:
        return time.perf_counter() - self.started


def finish(record: RequestRecord, settings: Settings) -> None:
    """Records the operation (if the request was one) and logs the access line."""
    seconds = record.seconds()
    is_operation = record.operation_type is not None or (
        record.path == GRAPHQL_PATH and record.method == "POST"
    )
    if is_operation:
        if record.outcome is None:
            # Over a WebSocket, an operation without errors; over HTTP, one
            # refused before it ran (the status says why).
            status = 200 if record.transport != "http" else record.status or 500
            if status >= 500:
                record.note_outcome(INTERNAL_ERROR, INTERNAL_SERVER_ERROR)
            elif status >= 400:
                record.note_outcome(GRAPHQL_ERROR, HTTP_CODES.get(status, f"HTTP_{status}"))
            else:
                record.note_outcome(OK)
        assert record.outcome is not None
        timed = record.operation_type != "subscription"
        metrics.record_operation(
            record.operation_type or UNKNOWN_OPERATION,
            record.operation_name,
            record.outcome,
            record.code,
            seconds if timed else None,
        )
    log_access(record, seconds, settings)


def log_access(record: RequestRecord, seconds: float, settings: Settings | None = None) -> None:
    """The access line: INFO, or DEBUG for probes and scrapes. The actor is
    looked up here (only for a line that is written) unless the path that
    answered already knew it; without `settings` it stays as noted."""
    level = logging.DEBUG if record.path in QUIET_PATHS else logging.INFO
    if not access_logger.isEnabledFor(level):
        return
    if record.actor is None and record.authorization and settings is not None:
        record.actor = bearer_name(settings, record.authorization)
    # (With tracing on, every line carries its trace id: access_lines makes
    # no template then.)
    usual = (
        record.client_request_id is None
        and record.messages is None
        and record.outcome not in _ERRORS
    )
    if usual:
        # Everything that tells this line from another of its kind. The level
        # follows from the path; the transport from the method, which only an
        # operation over a WebSocket lacks.
        kind = (
            record.method,
            record.path,
            record.status,
            record.operation_type,
            record.operation_name,
            record.outcome,
            record.code,
            record.actor,
        )
        form = access_lines.templates.get(kind, access_lines.NOT_MADE)
        if form is access_lines.NOT_MADE:
            form = access_lines.template(kind, _line, record, level)
        if form is not None and write_json_bytes(
            access_logger, level, access_lines.join(form, record.request_id, seconds)
        ):
            return
    # round(…, 3) goes through the float's decimal digits: twice the cost.
    duration_ms = int(seconds * 1_000_000 + 0.5) / 1000
    line = _line(record, level, record.request_id, duration_ms)
    if record.client_request_id is not None:
        line["client_request_id"] = record.client_request_id
    if record.messages is not None:
        line["messages"] = record.messages
    if record.outcome in _ERRORS:
        if record.error:
            line["error"] = cut(record.error)
        if record.document:
            line["query"] = cut(record.document)
    if tracing.enabled():
        line["trace_id"] = tracing.current_trace_id()
    if write_json_object(access_logger, level, line):
        return
    # Made and handed on directly: Logger.log would walk the stack (a deep
    # one, under the ASGI middleware) to find a caller that says nothing here.
    access_logger.handle(
        access_logger.makeRecord(
            access_logger.name,
            level,
            "",
            0,
            line["message"],
            (),
            None,
            extra={"_fields": fields_after_head(line)},
        )
    )


_ERRORS = (GRAPHQL_ERROR, INTERNAL_ERROR)


def _line(
    record: RequestRecord, level: int, request_id: str, duration_ms: Any, now: Any = None
) -> dict[str, Any]:
    """The access line's usual fields, as JsonLines would order them
    (logs.ACCESS_HEAD's keys first; "time", when given, last). Every line has
    these keys, in this order; an HTTP request that was no operation has
    them as null."""
    http = record.transport == "http"
    name = record.operation_name
    if name is not None and len(name) > MAX_LOGGED_NAME:
        name = cut(name, MAX_LOGGED_NAME)
    if http:
        summary = f"{record.method} {record.path} {record.status}"
    else:
        summary = f"websocket {record.operation_type} {name or ''}".rstrip()
    line: dict[str, Any] = {
        "level": "INFO" if level == logging.INFO else "DEBUG",
        "logger": ACCESS_LOGGER,
        "message": summary,
        "pid": process_id(),
        "request_id": request_id,
        "transport": record.transport,
        "method": record.method if http else None,
        "path": record.path,
        "status": record.status,
        "operation_type": record.operation_type
        or (UNKNOWN_OPERATION if record.outcome is not None else None),
        "operation_name": name,
        "outcome": record.outcome,
        "code": record.code or None,
        "duration_ms": duration_ms,
        "actor": record.actor,
    }
    if now is not None:
        line["time"] = now
    return line


async def internal_error(send: Send, request_id: str) -> None:
    """The answer to an exception that escaped the app before it answered,
    as Starlette's ServerErrorMiddleware would give, with the request id."""
    body = json.dumps(
        {
            "errors": [
                {
                    "message": "internal error",
                    "extensions": {"code": INTERNAL_SERVER_ERROR, "requestId": request_id},
                }
            ]
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
