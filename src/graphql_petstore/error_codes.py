"""Every `extensions.code` a GraphQL error of this server can carry: the one
documented list (docs/errors.md is generated from it and a test keeps the two
equal; another test triggers each code).

Apollo's names where one fits, so that clients that already branch on them
(Apollo Client's persisted-query link, urql's, retry links) work unchanged.
A rule of the store that refuses an event is not here: it comes back as a
`userErrors` entry with an `ErrorCode` of the schema, and nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
QUERY_COST_EXCEEDED = "QUERY_COST_EXCEEDED"
SUBSCRIPTION_NEEDS_WEBSOCKET = "SUBSCRIPTION_NEEDS_WEBSOCKET"
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
PERSISTED_QUERY_REQUIRED = "PERSISTED_QUERY_REQUIRED"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
APPEND_OUTCOME_UNKNOWN = "APPEND_OUTCOME_UNKNOWN"
DATABASE_BUSY = "DATABASE_BUSY"
STATEMENT_TIMEOUT = "STATEMENT_TIMEOUT"
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


@dataclass(frozen=True)
class Code:
    name: str
    meaning: str
    retryable: bool = False
    # Where it comes from, for the reader of docs/errors.md.
    example: str = ""


CODES: tuple[Code, ...] = (
    Code(
        GRAPHQL_PARSE_FAILED,
        "The document is not GraphQL (a syntax error); `locations` points at it.",
        example="`{ pets {`",
    ),
    Code(
        GRAPHQL_VALIDATION_FAILED,
        "The document is not valid against the schema: an unknown field or argument, "
        "a missing required argument, a value written in the document that its type does "
        'not accept (`pet(id: "xyz")`). `locations` points at it.',
        example="`{ pets { edgez } }`",
    ),
    Code(
        BAD_USER_INPUT,
        "A value given at run time is malformed: a variable that does not fit its type "
        '(`"xyz"` for a `UUID!`), a page size out of range, a cursor that is not one, a '
        "date-time without a zone.",
        example='`query($id: UUID!) { pet(id: $id) { id } }` with `{"id": "xyz"}`',
    ),
    Code(
        QUERY_TOO_DEEP,
        "The operation nests fields deeper than `PETSTORE_MAX_DEPTH`.",
        example="pets → mother → mother → … eleven levels",
    ),
    Code(
        TOO_MANY_ALIASES,
        "The operation uses more aliases than the server allows (30).",
    ),
    Code(
        TOO_MANY_TOKENS,
        "The document has more tokens than `PETSTORE_MAX_QUERY_TOKENS`; it was not parsed further.",
    ),
    Code(
        QUERY_COST_EXCEEDED,
        "The operation may return more objects than `PETSTORE_MAX_QUERY_COST`: page sizes "
        "multiplied through the nesting (see the README's Limits). It was not run; "
        "`extensions.cost` and `extensions.limit` give both numbers.",
        example="`{ pets(first: 500) { nodes { offspring { offspring { id } } } } }`",
    ),
    Code(
        SUBSCRIPTION_NEEDS_WEBSOCKET,
        "A subscription was sent over plain HTTP. Subscriptions are served over a "
        "WebSocket on the same /graphql (graphql-transport-ws or graphql-ws).",
        example="POST `subscription { events { id } }`",
    ),
    Code(
        PERSISTED_QUERY_NOT_FOUND,
        "Automatic persisted queries: the server does not know this hash (yet). Send it "
        "again with the document in `query`; Apollo's and urql's links do so by themselves.",
    ),
    Code(
        PERSISTED_QUERY_NOT_SUPPORTED,
        "Persisted queries are switched off (`PETSTORE_PERSISTED_QUERIES=off`).",
    ),
    Code(
        PERSISTED_QUERY_HASH_MISMATCH,
        "The request's `extensions.persistedQuery.sha256Hash` is not the SHA-256 of its "
        "`query`, or is not a hash at all.",
    ),
    Code(
        PERSISTED_QUERY_REQUIRED,
        "Trusted documents mode (`PETSTORE_TRUSTED_DOCUMENTS`): only documents of the "
        "manifest run; a document sent as text, or a hash the manifest does not have, is "
        "refused.",
    ),
    Code(
        UNAUTHENTICATED,
        "A write without a usable `Authorization: Bearer <token>` header.",
    ),
    Code(
        FORBIDDEN,
        "A write with a token that is not one of `PETSTORE_API_TOKENS`.",
    ),
    Code(
        DATABASE_UNAVAILABLE,
        "The database could not be reached (a read), or a write could not reach it or lost "
        "its connection and the server made sure that nothing was stored: retry.",
        retryable=True,
    ),
    Code(
        APPEND_OUTCOME_UNKNOWN,
        "The database connection broke during a write and the server could not learn "
        "whether it committed; `extensions.eventId` is the event's id: look it up before "
        "retrying a write without an idempotencyKey.",
        retryable=True,
    ),
    Code(
        DATABASE_BUSY,
        "Every database connection of the server stayed in use for `PETSTORE_POOL_TIMEOUT` "
        "seconds: nothing was run (a write stored nothing). Retry after a pause.",
        retryable=True,
    ),
    Code(
        STATEMENT_TIMEOUT,
        "PostgreSQL cancelled a statement that ran longer than `PETSTORE_STATEMENT_TIMEOUT` "
        "(SQLSTATE 57014); a write stored nothing.",
        retryable=True,
    ),
    Code(
        REQUEST_TIMEOUT,
        "The request ran longer than `PETSTORE_REQUEST_TIMEOUT` and was stopped. Never the "
        "answer to a write that reached the database: a write is always seen through to "
        "its outcome.",
        retryable=True,
    ),
    Code(
        PAYLOAD_TOO_LARGE,
        "The request body is larger than `PETSTORE_MAX_BODY_BYTES` (HTTP 413).",
    ),
    Code(
        INTERNAL_SERVER_ERROR,
        'Anything unexpected: the message is "internal error" and `extensions.requestId` '
        "names the log line that has the details.",
    ),
)

BY_NAME: dict[str, Code] = {code.name: code for code in CODES}


def markdown() -> str:
    """docs/errors.md: these codes, then the schema's ErrorCode (userErrors)."""
    from graphql_petstore.api.descriptions import ENUM_VALUES

    lines = [
        "# Error codes",
        "",
        "<!-- Generated from src/graphql_petstore/error_codes.py by",
        "     `graphql-petstore error-codes`; tests/api/test_error_codes.py keeps it equal. -->",
        "",
        "Every error in the `errors` of a response carries `extensions.code`, one of",
        "the codes below, and `locations` wherever the error is about a place in the",
        "document. Retryable errors also carry `extensions.retryable: true`.",
        "",
        "A rule of the store that refuses an event (selling a pet that is not",
        "available, a price change of a sold pet, …) is not an error of this list: the",
        "mutation answers with `userErrors` and stores nothing (see below).",
        "",
        "| code | retryable | meaning |",
        "|---|---|---|",
    ]
    for code in CODES:
        meaning = code.meaning + (f" Example: {code.example}." if code.example else "")
        lines.append(f"| `{code.name}` | {'yes' if code.retryable else ''} | {meaning} |")
    lines += [
        "",
        "## HTTP status",
        "",
        "An operation that failed as a whole for a retryable reason — no `data` at",
        "all, and every error one of `DATABASE_UNAVAILABLE`, `DATABASE_BUSY`,",
        "`STATEMENT_TIMEOUT`, `REQUEST_TIMEOUT` — is answered with HTTP 503 and a",
        "`Retry-After` header (seconds), its body the usual GraphQL response. Anything",
        "else that the server answers is HTTP 200 (or 4xx for a request that is not",
        "GraphQL over HTTP at all), `APPEND_OUTCOME_UNKNOWN` included: that write may",
        "be stored, and the client must look its `eventId` up before it retries.",
        "",
        "GraphQL over HTTP allows this for `application/graphql-response+json`: a",
        "response whose `data` is null (or absent) may carry a 4xx or 5xx status. For",
        "`application/json` the specification says a server *should* answer 200 to",
        "every well-formed request; this server answers 503 there too, deliberately:",
        "the status is what proxies, load balancers and HTTP retry policies act on,",
        "and clients that read the body of a non-2xx response (Apollo Client's",
        "HttpLink and urql's fetch exchange do) still find `errors` with their codes.",
        "A response with partial `data` stays 200 whatever its errors.",
        "",
        "## userErrors",
        "",
        "A mutation that a rule of the store refuses answers with `data` and",
        "`userErrors: [{code, message, field}]`, its `event` and `pet` null; nothing",
        "is stored. The rules are checked by PostgreSQL's triggers, so the same",
        "refusals (SQLSTATE `PS0xx`, the message starting with the code) meet SQL",
        "typed into psql. The codes, from the schema's `ErrorCode`:",
        "",
        "| code | meaning |",
        "|---|---|",
    ]
    for name, meaning in ENUM_VALUES["ErrorCode"].items():
        lines.append(f"| `{name}` | {meaning} |")
    return "\n".join(lines) + "\n"
