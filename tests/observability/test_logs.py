"""The log of a real server that serves good and bad requests: JSON lines,
one access line per request with its fields, client mistakes at INFO without
a traceback, one ERROR (with traceback and the request id the client got)
for the one unexpected failure, and no token or long query anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from graphql_petstore.observability.line_batches import FLUSH_DELAY, PendingLines, flush_lines
from graphql_petstore.observability.logs import (
    MAX_LOGGED_TEXT,
    RequestContext,
    TextFormatter,
    cut,
    json_formatter,
    resolve_format,
    write_json_line,
)
from tests.observability.conftest import access_lines
from tests.subscriptions.support import API_TOKEN, ARRIVE, Server, ServerFactory, connect

WRONG_TOKEN = "wrong-token-that-must-not-be-logged"
# Long enough to be cut, with a tail that must not reach the log.
LONG_TAIL = "END_OF_A_LONG_QUERY"
ACCESS_FIELDS = {
    "request_id",
    "transport",
    "method",
    "path",
    "status",
    "operation_type",
    "operation_name",
    "outcome",
    "code",
    "duration_ms",
    "actor",
}


async def post(server: Server, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await server.http.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    answer["request_id"] = response.headers["x-request-id"]
    return answer


def log_lines(server: Server) -> list[dict[str, Any]]:
    text = server.log_path.read_text()
    lines = []
    for line in text.splitlines():
        assert line.startswith("{"), f"not a JSON line: {line!r}"
        lines.append(json.loads(line))
    return lines


async def test_the_json_log_of_good_and_bad_requests(
    serve: ServerFactory, conn: asyncpg.Connection
) -> None:
    server = await serve(PETSTORE_MAX_QUERY_TOKENS="200")
    arrival = {"input": {"name": "Rex", "species": "Cat", "price": "1.00"}}
    good = await post(server, {"query": ARRIVE, "variables": arrival}, API_TOKEN)
    await post(server, {"query": "query Page { pets(first: 2) { edges { cursor } } }"})
    bad = [
        await post(server, {"query": ARRIVE, "variables": arrival}, WRONG_TOKEN),
        await post(server, {"query": '{ pets(after: "nonsense") { edges { cursor } } }'}),
        await post(server, {"query": "query Minus { pets(first: -1) { edges { cursor } } }"}),
        await post(server, {"query": "query Typo { petz }"}),
        await post(server, {"query": "{ " + "a: __typename " * 300 + LONG_TAIL + " }"}),
        await post(server, {"query": "{ " + "x" * 3000 + LONG_TAIL + " }"}),
    ]
    for answer in bad:
        assert answer["errors"], answer
    await conn.execute("alter table pets rename to pets_gone")
    failed = await post(server, {"query": "query Broken { pets { edges { cursor } } }"})
    [error] = failed["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    await server.close()  # every line is written

    lines = log_lines(server)
    text = server.log_path.read_text()
    assert API_TOKEN not in text
    assert WRONG_TOKEN not in text
    assert LONG_TAIL not in text

    access = {
        line["request_id"]: line for line in lines if line["logger"] == "graphql_petstore.access"
    }
    requests = [good, *bad, failed]
    assert set(access) >= {answer["request_id"] for answer in requests}
    for line in access.values():
        assert set(line) >= ACCESS_FIELDS, line
        assert line["level"] == "INFO"
        assert "traceback" not in line
        for field in ("query", "error"):
            assert len(line.get(field, "")) <= MAX_LOGGED_TEXT + len("… (99999 characters)")

    written = access[good["request_id"]]
    assert (written["operation_type"], written["outcome"], written["actor"]) == (
        "mutation",
        "ok",
        "tester",
    )
    refused = access[bad[0]["request_id"]]
    assert (refused["outcome"], refused["code"], refused["actor"]) == (
        "graphql_error",
        "FORBIDDEN",
        None,
    )
    codes = [access[answer["request_id"]]["code"] for answer in bad[1:]]
    assert codes == [
        "BAD_USER_INPUT",
        "BAD_USER_INPUT",
        "GRAPHQL_VALIDATION_FAILED",
        # as the response says (the document cache no longer raises the
        # token limit's syntax error from its own hook)
        "TOO_MANY_TOKENS",
        "GRAPHQL_VALIDATION_FAILED",
    ]
    assert bad[4]["errors"][0]["extensions"]["code"] == "TOO_MANY_TOKENS"
    assert access[bad[2]["request_id"]]["query"].startswith("query Minus")

    # Client mistakes are not server errors: the one ERROR is the unexpected
    # failure, with its traceback and the request id that the client got.
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1, errors
    [logged] = errors
    assert logged["request_id"] == error["extensions"]["requestId"] == failed["request_id"]
    assert 'relation "pets" does not exist' in logged["traceback"]
    assert access[failed["request_id"]]["outcome"] == "internal_error"
    assert not [line for line in lines if line["level"] == "WARNING"]


@pytest.mark.parametrize("sharing", ["on", "off"])
async def test_an_operation_over_a_websocket_is_logged_with_its_connections_request_id(
    serve: ServerFactory, sharing: str
) -> None:
    """The connection's request id (the server's own, envelope.py) names the
    access line of each operation over it, with the client's X-Request-ID of
    the upgrade request: a shared subscription's line (sharing/members.py)
    and one of its own (observability/operations.py)."""
    server = await serve(PETSTORE_SUBSCRIPTION_SHARING=sharing)
    async with connect(server, headers={"X-Request-ID": "ws-client-7"}) as client:
        subscription = await client.events()
        # Once an event has reached it, the operation has surely started: one
        # completed before its task starts leaves no line (strawberry cancels
        # a task that never ran).
        arrival = {"input": {"name": "Rex", "species": "Cat", "price": "1.00"}}
        await post(server, {"query": ARRIVE, "variables": arrival}, API_TOKEN)
        await subscription.next()
        await subscription.complete()
        # Written when the server has ended the operation, within a flush.
        lines = await access_lines(
            server, lambda lines: any(line["transport"] == "websocket" for line in lines)
        )

    [line] = [line for line in lines if line["transport"] == "websocket"]
    assert line["operation_type"] == "subscription"
    assert re.fullmatch("[0-9a-f]{32}", line["request_id"]), line
    assert line["client_request_id"] == "ws-client-7", line


async def test_a_request_refused_for_a_malformed_consistency_token_has_its_access_line(
    serve: ServerFactory,
) -> None:
    server = await serve()
    response = await server.http.post(
        "/graphql",
        json={"query": "{ pets(first: 1) { edges { cursor } } }"},
        headers={"Petstore-Consistency-Token": "not-a-token"},
    )
    assert response.status_code == 400, response.text
    request_id = response.headers["petstore-request-id"]
    lines = await access_lines(
        server, lambda lines: any(line["request_id"] == request_id for line in lines)
    )
    [line] = [line for line in lines if line["request_id"] == request_id]
    assert (line["status"], line["outcome"], line["code"], line["level"]) == (
        400,
        "graphql_error",
        "BAD_USER_INPUT",
        "INFO",
    )


def test_a_text_line_carries_the_fields_after_the_message() -> None:
    record = logging.LogRecord(
        "graphql_petstore.access", logging.INFO, "", 0, "POST /graphql 200", (), None
    )
    record.__dict__.update(request_id="abc", outcome="ok", actor=None, operation_name="Two words")
    line = TextFormatter("%(levelname)s %(name)s: %(message)s").format(record)
    assert line == (
        "INFO graphql_petstore.access: POST /graphql 200 "
        "request_id=abc outcome=ok actor=- operation_name='Two words'"
    )
    as_json = json.loads(json_formatter().format(record))
    assert as_json["request_id"] == "abc"
    assert as_json["level"] == "INFO"


def test_a_lone_surrogate_from_the_client_still_makes_a_json_line() -> None:
    """orjson refuses such a str; the line must still be written, and parse."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestContext())
    logger = logging.getLogger("graphql_petstore.test_surrogate")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert write_json_line(logger, logging.INFO, "POST /graphql 200", {"name": "a\ud800b"})
        record = logging.LogRecord(logger.name, logging.INFO, "", 0, "m", (), None)
        record.__dict__["_fields"] = {"name": "c\udfffd"}
        logger.handle(record)
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["name"] == "a\ud800b"
    assert first["message"] == "POST /graphql 200"
    assert "T" in first["time"]  # ISO 8601, as orjson writes it
    assert second["name"] == "c\udfffd"


def test_the_format_is_text_on_a_terminal_and_json_otherwise() -> None:
    primary, secondary = os.openpty()
    with os.fdopen(primary, "w") as terminal_side, os.fdopen(secondary, "w") as terminal:
        assert resolve_format("auto", terminal) == "text"
        assert resolve_format("json", terminal) == "json"
        del terminal_side
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"
    assert cut("x" * 300, 10) == "xxxxxxxxxx… (300 characters)"


def test_a_handler_or_filter_added_later_takes_the_access_line_from_the_fast_path() -> None:
    """write_json_line approves the root's JSON handler once and then only
    compares: whatever changes on the way must still be noticed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestContext())
    root = logging.getLogger()
    middle = logging.getLogger("petstore_test_approval")
    logger = logging.getLogger("petstore_test_approval.line")
    saved = root.handlers[:]
    root.handlers = [handler]
    capture = logging.StreamHandler(io.StringIO())
    try:
        assert write_json_line(logger, logging.INFO, "first", {"n": 1})
        assert write_json_line(logger, logging.INFO, "second", {"n": 2})
        root.addHandler(capture)
        assert not write_json_line(logger, logging.INFO, "two handlers", {})
        root.removeHandler(capture)
        assert write_json_line(logger, logging.INFO, "third", {"n": 3})
        logger.addHandler(capture)
        assert not write_json_line(logger, logging.INFO, "a handler of its own", {})
        logger.removeHandler(capture)
        middle.addHandler(capture)
        assert not write_json_line(logger, logging.INFO, "a handler on the way", {})
        middle.removeHandler(capture)
        middle.propagate = False
        assert not write_json_line(logger, logging.INFO, "not propagated", {})
        middle.propagate = True
        assert write_json_line(logger, logging.INFO, "fourth", {"n": 4})
        only_errors = logging.Filter("nothing")
        handler.addFilter(only_errors)
        assert not write_json_line(logger, logging.INFO, "a filter", {})
        handler.removeFilter(only_errors)
        root.addFilter(only_errors)
        assert not write_json_line(logger, logging.INFO, "a filter on the root", {})
        root.removeFilter(only_errors)
        handler.setLevel(logging.WARNING)
        assert not write_json_line(logger, logging.INFO, "under the level", {})
        handler.setLevel(logging.NOTSET)
        handler.setFormatter(logging.Formatter())
        assert not write_json_line(logger, logging.INFO, "text lines", {})
    finally:
        root.handlers = saved
        logger.removeHandler(capture)
        middle.removeHandler(capture)
        middle.propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["first", "second", "third", "fourth"]


@contextlib.contextmanager
def json_lines_to(stream: io.TextIOWrapper) -> Iterator[None]:
    """The root logger writes JSON lines to `stream` alone, at INFO."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers, root.level = [handler], logging.INFO
    try:
        yield
    finally:
        root.handlers, root.level = saved, level


def test_lines_to_an_unbuffered_stream_wait_for_one_write_and_stay_in_order(
    tmp_path: Path,
) -> None:
    """Python run unbuffered (PYTHONUNBUFFERED=1) gives stderr no bytes
    buffer: the access lines wait in one of ours, are written together, and
    a line logged the usual way comes after those logged before it."""
    path = tmp_path / "stderr"
    raw = open(path, "wb", buffering=0)  # noqa: SIM115 - closed below
    stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    logger = logging.getLogger("petstore_test_unbuffered")

    async def log() -> None:
        assert write_json_line(logger, logging.INFO, "first", {"n": 1})
        assert write_json_line(logger, logging.INFO, "second", {"n": 2})
        assert path.read_bytes() == b""  # waiting for the flush
        logger.warning("the usual way")
        await asyncio.sleep(FLUSH_DELAY * 3)
        assert write_json_line(logger, logging.INFO, "third", {"n": 3})
        await asyncio.sleep(FLUSH_DELAY * 3)

    try:
        with json_lines_to(stream):
            asyncio.run(log())
    finally:
        stream.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["message"] for line in lines] == ["first", "second", "the usual way", "third"]


def test_what_a_non_blocking_stream_does_not_take_waits_for_the_next_flush_in_order() -> None:
    """A raw write that takes part of the lines, then None (the pipe is
    full): the rest stays, ahead of the lines written after it."""
    taken: list[bytes] = []

    class Full(io.RawIOBase):
        room = 25

        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int | None:
            if self.room <= 0:
                return None
            chunk = bytes(data[: min(10, self.room)])
            taken.append(chunk)
            self.room -= len(chunk)
            return len(chunk)

    raw = Full()
    pending = PendingLines(raw)
    pending.write(b"a" * 40)
    pending.flush()
    assert b"".join(taken) == b"a" * 25
    pending.write(b"b" * 5)
    raw.room = 100
    pending.flush()
    assert b"".join(taken) == b"a" * 40 + b"b" * 5
    pending.flush()  # nothing left
    assert b"".join(taken) == b"a" * 40 + b"b" * 5


def test_lines_a_failing_stream_refused_are_not_written_again() -> None:
    taken: list[bytes] = []

    class Failing(io.RawIOBase):
        broken = True

        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            if self.broken:
                raise BrokenPipeError
            taken.append(bytes(data))
            return len(data)

    raw = Failing()
    pending = PendingLines(raw)
    pending.write(b"lost\n")
    with pytest.raises(BrokenPipeError):
        pending.flush()
    raw.broken = False
    pending.write(b"next\n")
    pending.flush()
    assert taken == [b"next\n"]


def test_a_line_logged_the_usual_way_takes_the_waiting_lines_of_a_buffered_stream_along() -> None:
    """With stderr's own bytes buffer, the access lines wait there; a line
    logged the usual way is written after them, and the handler's flush
    writes all of them in one write(2), not two."""
    writes: list[bytes] = []

    class Raw(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            writes.append(bytes(data))
            return len(data)

    stream = io.TextIOWrapper(io.BufferedWriter(Raw()), encoding="utf-8")
    logger = logging.getLogger("petstore_test_buffered")

    async def log() -> None:
        assert write_json_line(logger, logging.INFO, "first", {"n": 1})
        assert write_json_line(logger, logging.INFO, "second", {"n": 2})
        assert writes == []  # waiting for the flush
        logger.warning("the usual way")

    try:
        with json_lines_to(stream):
            asyncio.run(log())
        written = list(writes)
    finally:
        flush_lines()  # the loop that would have run the timer is gone
    assert len(written) == 1, written
    lines = [json.loads(line) for line in written[0].splitlines()]
    assert [line["message"] for line in lines] == ["first", "second", "the usual way"]
