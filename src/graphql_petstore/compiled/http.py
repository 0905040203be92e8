"""The compiled path: POST /graphql (and a query by GET) answered by one
statement when it can.

In front of strawberry's ASGI app. Per request: parse the body (or the URL's
query, variables and operationName), look the document's plan up, coerce the
variables, bind them, route the read (api/read_routing.py, as strawberry's
path does), run the one statement on that node's pool, write its text.
Everything else — GraphiQL's page, a mutation by GET, WebSockets,
documents the compiler does not support, any request whose values or results
are unusual (a refused argument, a bad cursor, a null where the schema says
non-null) — goes to strawberry with the body as it came, and strawberry
answers exactly as it would have without this layer.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

import asyncpg
import orjson
from graphql import GraphQLError, GraphQLSchema, OperationType
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_petstore.api import retryable
from graphql_petstore.api.commands import build_command
from graphql_petstore.api.context import writer
from graphql_petstore.api.mutations import append_failure
from graphql_petstore.api.read_routing import route_for
from graphql_petstore.auth import bearer_name
from graphql_petstore.bytes_search import contains
from graphql_petstore.compiled.arguments import Bindings
from graphql_petstore.compiled.operations import Statement, Write
from graphql_petstore.compiled.plans import Plans
from graphql_petstore.database.appends import (
    AppendNotStored,
    AppendOutcomeUnknown,
    run_append,
)
from graphql_petstore.database.pool import ConnectionPool, PoolTimeoutError
from graphql_petstore.database.routing import Route, Router
from graphql_petstore.json_output import encode
from graphql_petstore.observability import current_request, event_appended
from graphql_petstore.observability.direct import answering
from graphql_petstore.persisted import RESOLVED, for_strawberry
from graphql_petstore.settings import Settings

logger = logging.getLogger(__name__)

_HEADERS = [(b"content-type", b"application/json")]


class CompiledGraphQL:
    def __init__(
        self, strawberry: ASGIApp, schema: GraphQLSchema, plans: Plans, settings: Settings
    ) -> None:
        self.strawberry = strawberry
        self.schema = schema
        self.plans = plans
        self.settings = settings
        # Requests answered here, and POSTs handed to strawberry.
        self.answered = 0
        self.passed_on = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.settings.compiled_operations or scope["type"] != "http":
            await self.strawberry(*for_strawberry(scope, receive), send)
            return
        # A persisted query, resolved already (graphql_petstore.persisted).
        resolved = scope.get(RESOLVED)
        headers = dict(scope["headers"])
        if scope["method"] == "GET" and (resolved is not None or _query_in_url(scope, headers)):
            # Queries only: strawberry refuses a mutation over GET.
            request = resolved if resolved is not None else _url_request(scope)
            answer = await self._answer_or_refuse(scope, headers, request, send, queries_only=True)
            if answer is _REFUSED:
                return
            if answer is None:
                self.passed_on += 1
                await self.strawberry(*for_strawberry(scope, receive), send)
                return
        elif scope["method"] == "POST" and _plain_json(headers):
            body = await _read_body(receive)
            if resolved is not None:
                request = resolved
            else:
                try:
                    request = orjson.loads(body)
                except orjson.JSONDecodeError:
                    request = None
            answer = await self._answer_or_refuse(scope, headers, request, send)
            if answer is _REFUSED:
                return
            if answer is None:
                self.passed_on += 1
                await self.strawberry(*for_strawberry(scope, _replay(body, receive)), send)
                return
        else:
            await self.strawberry(*for_strawberry(scope, receive), send)
            return
        self.answered += 1
        await _send(send, 200, answer)

    async def _answer_or_refuse(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        request: object,
        send: Send,
        queries_only: bool = False,
    ) -> bytes | None:
        """The response body, or None (strawberry answers), or _REFUSED: a
        retryable failure, answered here with 503 (not again by strawberry,
        which would wait as long for the same busy database)."""
        try:
            return await self._answer(scope, headers, request, queries_only)
        except _Retryable as failure:
            body = failure.body
            if body is None:
                error = retryable.error(failure.code)
                record = current_request()
                if record is not None:
                    record.note_errors([error], "")
                body = encode({"data": None, "errors": [error.formatted]}).encode()
            self.answered += 1
            await _send(send, 503, body, retryable.headers())
            return _REFUSED

    async def _answer(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        request: object,
        queries_only: bool = False,
    ) -> bytes | None:
        """The response body, or None: strawberry answers."""
        if not isinstance(request, dict) or request.get("extensions"):
            return None
        document, name, variables = (
            request.get("query"),
            request.get("operationName"),
            request.get("variables"),
        )
        if not (
            isinstance(document, str)
            and (name is None or isinstance(name, str))
            and (variables is None or isinstance(variables, dict))
        ):
            return None
        authorization = _header(headers, b"authorization")
        # The token's name, or None: no valid token (read once per request).
        caller = bearer_name(self.settings, authorization)
        if caller is None and not self.settings.anonymous_reads:
            return None  # strawberry refuses it (UNAUTHENTICATED)
        record = current_request()
        if record is not None:
            record.actor = caller  # for the access line, which would look it up again
        plan = self.plans.plan(document, name)
        if plan is None or (queries_only and plan.kind is not OperationType.QUERY):
            return None
        coerced = self.plans.coerce(plan, variables or {})
        if isinstance(coerced, list):
            return None  # strawberry reports the variables' errors
        if self.plans.over_budget(plan, coerced):
            return None  # strawberry refuses it (QUERY_COST_EXCEEDED) before it runs
        compiled = self.plans.compiled(plan, coerced)
        if compiled is None:
            return None
        router: Router = scope["app"].state.router
        # Audit fields are a parameter of the statement, not a variant of it.
        bindings = Bindings(coerced, audit=caller is not None)
        operation_name = plan.operation.name.value if plan.operation.name else None
        with answering(plan.kind.value, operation_name, document) as answer:
            response: bytes | None
            if isinstance(compiled, Write):
                reported = router.primary_route() if router.enabled else None
                response = await self._write(
                    scope, authorization, caller, compiled, bindings, router.primary.pool, reported
                )
            else:
                state = scope.setdefault("state", {})
                route = await route_for(router, plan.primary_only, state.get("consistency_token"))
                # strawberry reads where this read went, should it answer instead.
                state["route"] = route
                text = await _read(compiled, bindings, router, route)
                response = None if text is None else _data(text, route if router.enabled else None)
            if response is not None:
                answer.answered()
            return response

    async def _write(
        self,
        scope: Scope,
        authorization: str | None,
        caller: str | None,
        write: Write,
        bindings: Bindings,
        pool: ConnectionPool,
        reported: Route | None,
    ) -> bytes | None:
        try:
            # No valid token: writer() says why (and strawberry answers).
            actor = caller if caller is not None else writer(self.settings, authorization)
            given = write.input.get(bindings)
        except GraphQLError:
            return None
        command = build_command(
            write.field,
            {python: given[graphql] for graphql, python in write.python_names.items()},
            actor=actor,
            request_id=scope.get("state", {}).get("request_id", ""),
            max_metadata_bytes=self.settings.max_metadata_bytes,
        )
        if isinstance(command, list):
            return None  # strawberry answers with the userErrors
        bindings.command = command
        statement = write.statement(command)
        try:
            text: str | None = await run_append(
                pool,
                command.event_id,
                lambda conn: conn.fetchval(statement.sql, *statement.arguments(bindings)),
                lambda conn: conn.fetchval(write.settle.sql, *write.settle.arguments(bindings)),
            )
        except (PoolTimeoutError, asyncpg.QueryCanceledError) as exc:
            # Nothing was stored: no connection, or the statement ran past
            # its time limit and was rolled back.
            code = retryable.code_of(exc)
            assert code is not None
            raise _Retryable(code) from exc
        except (AppendNotStored, AppendOutcomeUnknown) as exc:
            # Not for strawberry to try again: answered as its resolver would.
            error = append_failure(exc)
            located = GraphQLError(
                error.message,
                nodes=[write.node],
                path=[write.response_name],
                extensions=error.extensions,
            )
            record = current_request()
            if record is not None:
                record.note_errors([located], "")
            answer: dict[str, object] = {"data": None, "errors": [located.formatted]}
            if reported is not None:
                answer["extensions"] = reported.extensions()
            if retryable.failed_whole(answer):
                code = str((error.extensions or {}).get("code"))
                raise _Retryable(code, encode(answer).encode()) from exc
            return encode(answer).encode()
        except Exception:
            # Nothing was stored (a rule refused the event, the statement
            # failed, or it was never sent): strawberry tries again and
            # reports what happens in its own words.
            logger.debug("compiled append did not store; strawberry answers", exc_info=True)
            return None
        # Stored here, whoever renders it. (With an idempotency key the append
        # may have replayed an earlier event; this path cannot tell, and counts it.)
        event_appended(
            command.event_type, command.event_id, command.columns.get("pet_id"), stored=True
        )
        scope["app"].state.doorbell.announce()
        if text is None:
            # Stored, but not renderable here (an unusual value, or a pet
            # that another writer moved on meanwhile, compiled/operations.py):
            # strawberry renders the stored event instead of appending it again.
            scope.setdefault("state", {})["appended_event_id"] = command.event_id
            return None
        return _data(text, reported)


async def _read(
    statement: Statement, bindings: Bindings, router: Router, route: Route
) -> str | None:
    try:
        arguments = statement.arguments(bindings)
    except (GraphQLError, ValueError):
        return None
    try:
        text: str | None = await router.fetchval(route, statement.sql, *arguments)
    except Exception as exc:
        code = retryable.code_of(exc)
        if code is not None:
            raise _Retryable(code) from exc
        # strawberry runs the request again and reports what went wrong
        logger.debug("compiled read failed; strawberry answers", exc_info=True)
        return None
    return text


class _Retryable(Exception):
    """A retryable failure of the whole request; `body` its answer when made
    already."""

    def __init__(self, code: str, body: bytes | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.body = body


_REFUSED = b""


async def _send(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *_HEADERS,
                (b"content-length", str(len(body)).encode()),
                *(headers or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _data(text: str, route: Route | None) -> bytes:
    """The response: its data, and where it was read when there are replicas
    (strawberry's path adds the same extensions, api/read_routing.py)."""
    if route is None:
        return b'{"data":' + text.encode() + b"}"
    extensions = encode(route.extensions()).encode()
    return b'{"data":' + text.encode() + b',"extensions":' + extensions + b"}"


def _plain_json(headers: dict[bytes, bytes]) -> bool:
    return contains(headers.get(b"content-type", b""), b"application/json") and not _streaming(
        headers
    )


def _query_in_url(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    return contains(scope.get("query_string", b""), b"query=") and not _streaming(headers)


def _streaming(headers: dict[bytes, bytes]) -> bool:
    """Whether the client asks for incremental delivery: strawberry's streaming answer."""
    accept = headers.get(b"accept")
    return accept is not None and (
        contains(accept, b"multipart/mixed") or contains(accept, b"text/event-stream")
    )


def _url_request(scope: Scope) -> dict[str, object] | None:
    """A GET request's fields, as GraphQL over HTTP puts them in the URL
    (variables and extensions as JSON); None when they are not usable."""
    params = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    request: dict[str, object] = {"query": params.get("query")}
    if "operationName" in params:
        request["operationName"] = params["operationName"] or None
    for name in ("variables", "extensions"):
        if params.get(name):
            try:
                request[name] = orjson.loads(params[name])
            except orjson.JSONDecodeError:
                return None
    return request


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The request as it came, for strawberry: the body once, then whatever
    else the server has to say (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
