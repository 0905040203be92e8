"""The malformed-input classes of issue 9 that live in the request itself
rather than in one argument: bodies that are not UTF-8, numbers and nesting
that break JSON decoders, bad characters where the server logs what it got
(operation name, document, headers). Each class is its own test; the answer
must be a 4xx or a typed GraphQL error, never a 5xx, a masked internal error,
a dropped connection or an exception after the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
import pytest

from tests.fuzz.arguments import Raw, encode
from tests.fuzz.target import FuzzTarget
from tests.subscriptions.support import API_TOKEN

pytestmark = pytest.mark.once

TYPENAME = "{ __typename }"
PETS = "query Pets($first: Int) { pets(first: $first) { nodes { id } } }"
HUGE = "9" * 4_301
DEEP = 100_000


@dataclass
class BadRequest:
    label: str
    body: bytes = b""
    method: str = "POST"
    query_string: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    raw_headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def utf8(label: str, body: bytes) -> BadRequest:
    return BadRequest(label, body)


CLASSES: dict[str, Callable[[], list[BadRequest]]] = {
    "invalid_utf8": lambda: [
        utf8("0xff in a string", b'{"query": "{ __typename }", "operationName": "\xff"}'),
        utf8("0xff in the document", b'{"query": "{ __typename \xff }"}'),
        utf8("truncated sequence", b'{"query": "{ __typename }", "x": "\xc3"}'),
        utf8("overlong '/'", b'{"query": "{ __typename }", "x": "\xc0\xaf"}'),
        utf8("UTF-8-encoded surrogate", b'{"query": "{ __typename }", "x": "\xed\xa0\x80"}'),
        utf8("UTF-16 with BOM", '{"query": "{ __typename }"}'.encode("utf-16")),
        utf8(
            "latin-1 variables", b'{"query": "%s", "variables": {"n": "caf\xe9"}}' % PETS.encode()
        ),
        BadRequest("0xff by GET", method="GET", query_string="query=%FF%FE"),
        BadRequest(
            "0xff in GET variables",
            method="GET",
            query_string=f"query={quote(PETS)}&variables=%7B%22first%22%3A%22%FF%22%7D",
        ),
    ],
    "huge_numbers_in_body": lambda: [
        BadRequest(
            "unused variable", encode({"query": TYPENAME, "variables": {"n": Raw.number(HUGE)}})
        ),
        BadRequest(
            "used variable", encode({"query": PETS, "variables": {"first": Raw.number(HUGE)}})
        ),
        BadRequest(
            "in extensions", encode({"query": TYPENAME, "extensions": {"n": Raw.number(HUGE)}})
        ),
        BadRequest(
            "as operationName", encode({"query": TYPENAME, "operationName": Raw.number(HUGE)})
        ),
        BadRequest("as the query", encode({"query": Raw.number(HUGE)})),
        BadRequest(
            "float overflow", encode({"query": PETS, "variables": {"first": Raw.number("1e400")}})
        ),
        BadRequest(
            "by GET",
            method="GET",
            query_string=f"query={quote(PETS)}&variables=" + quote(f'{{"first":{HUGE}}}'),
        ),
    ],
    "deep_json_body": lambda: [
        BadRequest(
            "deep variables", encode({"query": TYPENAME, "variables": {"v": Raw.nested(DEEP)}})
        ),
        BadRequest("deep extensions", encode({"query": TYPENAME, "extensions": Raw.nested(DEEP)})),
        BadRequest("deep body", Raw.nested(DEEP).json.encode()),
        BadRequest(
            "deep literal",
            encode(
                {"query": "{ pets(filter: " + "[" * 5_000 + "]" * 5_000 + ") { nodes { id } } }"}
            ),
        ),
        BadRequest(
            "deep by GET",
            method="GET",
            query_string=f"query={quote(TYPENAME)}&variables="
            + quote('{"v":' + Raw.nested(1_000).json + "}"),
        ),
    ],
    "bad_characters_logged": lambda: [
        BadRequest(
            "surrogate operationName", encode({"query": TYPENAME, "operationName": "\ud800"})
        ),
        BadRequest("NUL operationName", encode({"query": TYPENAME, "operationName": "\x00"})),
        BadRequest("surrogate in a comment", encode({"query": "# \ud800\n" + TYPENAME})),
        BadRequest("surrogate outside strings", encode({"query": "{ __typename \udfff }"})),
        BadRequest("NUL in the document", encode({"query": "{ __typename \x00 }"})),
        BadRequest(
            "surrogate in an unused variable",
            encode({"query": TYPENAME, "variables": {"v": "\ud800"}}),
        ),
        BadRequest(
            "surrogate variable name", encode({"query": TYPENAME, "variables": {"\ud800": 1}})
        ),
        BadRequest(
            "surrogate in extensions",
            encode({"query": TYPENAME, "extensions": {"\ud800": "\udfff"}}),
        ),
        BadRequest(
            "surrogate persisted hash",
            encode({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "\ud800"}}}),
        ),
        BadRequest(
            "0xff in X-Request-ID",
            encode({"query": TYPENAME}),
            raw_headers=[(b"x-request-id", b"\xff\xfe")],
        ),
        BadRequest(
            "0xff in Authorization",
            encode({"query": TYPENAME}),
            raw_headers=[(b"authorization", b"Bearer \xff")],
        ),
        BadRequest(
            "0xff in Content-Type",
            encode({"query": TYPENAME}),
            raw_headers=[(b"content-type", b"application/json; charset=\xff")],
        ),
    ],
}


async def send(target: FuzzTarget, request: BadRequest) -> str | None:
    headers: list[tuple[bytes, bytes]] = [
        (b"connection", b"close"),
        (b"accept", b"application/json"),
        (b"authorization", f"Bearer {API_TOKEN}".encode()),
    ]
    if request.method == "POST" and not any(k == b"content-type" for k, _ in request.raw_headers):
        headers.append((b"content-type", b"application/json"))
    names = {key for key, _ in request.raw_headers}
    headers = [(k, v) for k, v in headers if k not in names] + request.raw_headers
    url = httpx.URL(
        f"{target.server.graphql_url}?{request.query_string}"
        if request.query_string
        else target.server.graphql_url
    )
    target.mark_log()
    try:
        response = await target.http.send(
            httpx.Request(request.method, url, headers=headers, content=request.body or None)
        )
    except httpx.TransportError as exc:
        return f"no answer ({type(exc).__name__}: {exc}){target.new_exception()}"
    return await target.fault(response)


@pytest.mark.parametrize("bad_class", list(CLASSES))
async def test_bad_requests_get_client_errors(target: FuzzTarget, bad_class: str) -> None:
    failures = []
    requests = CLASSES[bad_class]()
    for request in requests:
        fault = await send(target, request)
        if fault:
            failures.append(f"{request.label}: {fault}")
    assert not failures, f"{len(failures)} of {len(requests)} faulted:\n" + "\n".join(failures)
