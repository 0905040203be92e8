"""Persisted operations: documents a client names by hash instead of sending.

Automatic persisted queries (the protocol of Apollo Client's and urql's
persisted-query links): a request carries
`extensions.persistedQuery = {"version": 1, "sha256Hash": …}` and no
`query`. When the server knows the hash it runs that document; when not it
answers PERSISTED_QUERY_NOT_FOUND and the client sends the hash again with
the document, which the server checks against the hash and remembers (a
BoundedCache per process). Over GET as well as POST, so that a query's URL
is short and cacheable.

Trusted documents (PETSTORE_TRUSTED_DOCUMENTS): a JSON manifest of
hash → document, as Relay, GraphQL Codegen's client preset or Apollo's
generate-persisted-query-manifest emit. Then only the manifest's documents
run: by hash (`extensions.persistedQuery.sha256Hash` or `documentId`), or as
a text that is one of them. Anything else is refused, nothing is learnt.

The layer sits in front of the compiled path and hands it the resolved
request (the document's text in `query`, the persistedQuery extension
removed) in the ASGI scope; the compiled path answers it without parsing the
URL or the body again, and when strawberry is to answer, `for_strawberry`
writes the resolved request into the URL or the body. So a persisted query
is answered by the same plan, in the same bytes, as the same document sent
as text. `PersistedDocuments.resolve` is the function that resolves, for any
caller.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from graphql import BREAK, DocumentNode, GraphQLError
from graphql.language import VisitorAction
from graphql.validation import ASTValidationRule
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_petstore import error_codes
from graphql_petstore.bytes_search import contains
from graphql_petstore.caches import BoundedCache
from graphql_petstore.errors import ConfigurationError
from graphql_petstore.observability.current import current_request

# Documents remembered per process for automatic persisted queries.
MAX_PERSISTED_QUERIES = 4_096
MAX_PERSISTED_QUERY_BYTES = 16 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _marked(body: bytes) -> bool:
    """Whether a body may name a persisted document (it has one of the keys
    that do): a cheap test, so that the others are not parsed twice."""
    return contains(body, b"persistedQuery") or contains(body, b"documentId")


# Where the layer leaves the resolved request (a GraphQL-over-HTTP request's
# fields) for the compiled path; for_strawberry puts it into the request.
RESOLVED = "petstore.resolved_request"

# The messages Apollo Server answers with: clients' links match on them
# (and on the codes) to retry with the document, or to stop hashing.
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
NOT_SUPPORTED_MESSAGE = "PersistedQueryNotSupported"


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str

    def body(self) -> bytes:
        error = {"message": self.message, "extensions": {"code": self.code}}
        return orjson.dumps({"errors": [error]})


class PersistedDocuments:
    """What hashes name: the APQ cache, or the trusted manifest."""

    def __init__(self, automatic: bool, manifest: Mapping[str, str] | None) -> None:
        self.automatic = automatic
        self.manifest = dict(manifest) if manifest is not None else None
        self._trusted_texts = frozenset(self.manifest.values()) if self.manifest else frozenset()
        self._learnt: BoundedCache[str, str] = BoundedCache(
            MAX_PERSISTED_QUERIES, MAX_PERSISTED_QUERY_BYTES
        )

    @property
    def trusted_only(self) -> bool:
        return self.manifest is not None

    def is_trusted(self, text: str) -> bool:
        return not self.trusted_only or text in self._trusted_texts

    def resolve(self, request: dict[str, Any]) -> dict[str, Any] | Refusal:
        """`request` (a GraphQL-over-HTTP request's fields) with the named
        document in `query` and the persistedQuery extension gone; or why
        it may not run."""
        extensions = request.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        document_id = request.get("documentId")
        if persisted is None and document_id is None:
            text = request.get("query")
            if isinstance(text, str) and not self.is_trusted(text):
                return _required()
            return request
        if persisted is not None and not self.automatic and not self.trusted_only:
            return Refusal(error_codes.PERSISTED_QUERY_NOT_SUPPORTED, NOT_SUPPORTED_MESSAGE)
        key = _hash_of(persisted, document_id)
        if key is None:
            return Refusal(
                error_codes.PERSISTED_QUERY_HASH_MISMATCH,
                "extensions.persistedQuery must be "
                '{"version": 1, "sha256Hash": "<64 lowercase hex digits>"}',
            )
        text = request.get("query")
        if isinstance(text, str):
            if hashlib.sha256(text.encode()).hexdigest() != key:
                if self.trusted_only and self.manifest.get(key) == text:  # type: ignore[union-attr]
                    pass  # the manifest's own id (not a SHA-256 of the text)
                else:
                    return Refusal(
                        error_codes.PERSISTED_QUERY_HASH_MISMATCH,
                        "provided sha does not match query",
                    )
            if not self.is_trusted(text):
                return _required()
            if not self.trusted_only:
                self._learnt.put(key, text, len(text))
        else:
            found = self.manifest.get(key) if self.manifest is not None else self._learnt.get(key)
            if found is None:
                return Refusal(error_codes.PERSISTED_QUERY_NOT_FOUND, NOT_FOUND_MESSAGE)
            text = found
        resolved = {k: v for k, v in request.items() if k != "documentId"}
        resolved["query"] = text
        rest = {k: v for k, v in (extensions or {}).items() if k != "persistedQuery"}
        if rest:
            resolved["extensions"] = rest
        else:
            resolved.pop("extensions", None)
        return resolved


def _hash_of(persisted: Any, document_id: Any) -> str | None:
    if persisted is not None:
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            return None
        value = persisted.get("sha256Hash")
    else:
        value = document_id
    if not isinstance(value, str):
        return None
    value = value.removeprefix("sha256:")
    if persisted is not None and not _SHA256.fullmatch(value):
        return None
    return value if 0 < len(value) <= 256 else None


def _required() -> Refusal:
    return Refusal(
        error_codes.PERSISTED_QUERY_REQUIRED,
        "this server runs only its trusted documents: send the document's hash "
        "(extensions.persistedQuery.sha256Hash or documentId)",
    )


def load_manifest(path: Path) -> dict[str, str]:
    """A manifest as Relay and GraphQL Codegen write it ({hash: document})
    or as Apollo's generate-persisted-query-manifest does
    ({"format": "apollo-persisted-query-manifest", "operations": [{id, body}]})."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigurationError(
            f"PETSTORE_TRUSTED_DOCUMENTS: cannot read {path}: {error}"
        ) from None
    if isinstance(raw, dict) and raw.get("format") == "apollo-persisted-query-manifest":
        operations = raw.get("operations")
        if isinstance(operations, list) and all(
            isinstance(o, dict) and isinstance(o.get("id"), str) and isinstance(o.get("body"), str)
            for o in operations
        ):
            return {o["id"]: o["body"] for o in operations}
    elif isinstance(raw, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        return dict(raw)
    raise ConfigurationError(
        f"PETSTORE_TRUSTED_DOCUMENTS: {path} is neither a JSON object of hash → document "
        "nor an apollo-persisted-query-manifest"
    )


class PersistedQueries:
    """The ASGI layer on /graphql (HTTP only: a WebSocket's documents meet
    trusted_documents_rule in strawberry)."""

    def __init__(self, app: ASGIApp, documents: PersistedDocuments) -> None:
        self.app = app
        self.documents = documents

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET":
            await self._get(scope, receive, send)
        elif scope["method"] == "POST":
            await self._post(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _get(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("query_string", b"")
        if not self.documents.trusted_only and not _marked(raw):
            await self.app(scope, receive, send)
            return
        params = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
        if "query" not in params and "extensions" not in params and "documentId" not in params:
            await self.app(scope, receive, send)  # GraphiQL's page
            return
        request: dict[str, Any] = dict(params)
        for name in ("extensions", "variables"):
            if params.get(name):
                try:
                    request[name] = json.loads(params[name])
                except ValueError:
                    await self.app(scope, receive, send)  # strawberry reports it
                    return
        resolved = self.documents.resolve(request)
        if isinstance(resolved, Refusal):
            await _refuse(send, resolved)
            return
        if resolved is not request:
            scope = {**scope, RESOLVED: resolved}
        await self.app(scope, receive, send)

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if not self.documents.trusted_only and not _marked(body):
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            await self.app(scope, _replay(body, receive), send)  # strawberry reports it
            return
        resolved = self.documents.resolve(request)
        if isinstance(resolved, Refusal):
            await _refuse(send, resolved)
            return
        if resolved is not request:
            scope = {**scope, RESOLVED: resolved}
        await self.app(scope, _replay(body, receive), send)


def for_strawberry(scope: Scope, receive: Receive) -> tuple[Scope, Receive]:
    """The request as strawberry reads it: a resolved persisted document put
    where a request carries its document (the URL's query, or the body).
    Done only when strawberry is to answer: the compiled path takes the
    resolved request from the scope as it is."""
    resolved = scope.get(RESOLVED)
    if resolved is None:
        return scope, receive
    scope = {k: v for k, v in scope.items() if k != RESOLVED}
    if scope["method"] == "GET":
        query = {k: v for k, v in resolved.items() if k not in ("extensions", "variables")}
        for name in ("variables", "extensions"):
            if resolved.get(name) is not None:
                query[name] = json.dumps(resolved[name])
        scope["query_string"] = urlencode(query).encode()
        return scope, receive
    body = orjson.dumps(resolved)
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    scope["headers"] = headers
    return scope, _replace_body(body, receive)


def trusted_documents_rule(documents: PersistedDocuments) -> type[ASTValidationRule]:
    """A validation rule that refuses, in trusted-documents mode, any other
    document wherever it comes from (a WebSocket subscription, strawberry's
    HTTP path): validation is what every transport reports as an error."""

    class TrustedDocumentsOnly(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> VisitorAction:
            text = node.loc.source.body if node.loc is not None else None
            if text is None or not documents.is_trusted(text):
                refusal = _required()
                self.report_error(GraphQLError(refusal.message, extensions={"code": refusal.code}))
            return BREAK

    return TrustedDocumentsOnly


async def _refuse(send: Send, refusal: Refusal) -> None:
    record = current_request()  # the access line and the metrics say why
    if record is not None:
        record.note_errors([{"message": refusal.message, "extensions": {"code": refusal.code}}], "")
    await _respond(send, refusal.body())


async def _respond(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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


def _replace_body(body: bytes, receive: Receive) -> Receive:
    """`receive` with its body (read already by whoever called) replaced."""

    async def replaced() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            while message.get("more_body", False):
                message = await receive()
            return {"type": "http.request", "body": body, "more_body": False}
        return message

    return replaced


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
