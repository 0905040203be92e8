"""OpenTelemetry traces of a real server, exported by the SDK's own console
exporter: one mutation is a request span, its operation span (with the
event and pet ids) and the SQL statements under it, whether the compiled
path or strawberry answers it; the access line names the trace. Without
the OTEL_* variables, or without the extra, nothing of OpenTelemetry is
loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.subscriptions.support import API_TOKEN, ServerFactory

ARRIVE = """
mutation Arrive($input: RecordPetArrivalInput!) {
  recordPetArrival(input: $input) { event { id } pet { id } userErrors { code } }
}
"""
REQUEST_ID = "trace-me-1"


def exported_spans(text: str) -> list[dict[str, Any]]:
    """The console exporter's spans: indented JSON objects among the log lines."""
    decoder = json.JSONDecoder()
    spans = []
    position = text.find("\n{\n")
    while position >= 0:
        span, end = decoder.raw_decode(text, position + 1)
        if isinstance(span, dict) and "context" in span:
            spans.append(span)
        position = text.find("\n{\n", end)
    return spans


def descendants(spans: list[dict[str, Any]], root: dict[str, Any]) -> list[dict[str, Any]]:
    found, frontier = [], [root["context"]["span_id"]]
    while frontier:
        parent = frontier.pop()
        for span in spans:
            if span["parent_id"] == parent:
                found.append(span)
                frontier.append(span["context"]["span_id"])
    return found


@pytest.mark.once
@pytest.mark.parametrize("compiled", ["on", "off"])
async def test_a_mutation_is_traced_from_the_request_down_to_its_sql(
    serve: ServerFactory, compiled: str
) -> None:
    server = await serve(
        PETSTORE_COMPILED_OPERATIONS=compiled,
        OTEL_TRACES_EXPORTER="console",
        OTEL_SERVICE_NAME="petstore-under-test",
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    response = await server.http.post(
        "/graphql",
        json={
            "query": ARRIVE,
            "variables": {"input": {"name": "Traced", "species": "Cat", "price": "3.00"}},
        },
        headers={"Authorization": f"Bearer {API_TOKEN}", "X-Request-ID": REQUEST_ID},
    )
    payload = response.json()["data"]["recordPetArrival"]
    server_request_id = response.headers["petstore-request-id"]
    # Without the client's id an access line is usually made from a template,
    # which has no place for the trace id: with tracing on, none is.
    plain = await server.http.post(
        "/graphql",
        json={"query": "{ pets(first: 1) { edges { cursor } } }"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    plain_request_id = plain.headers["petstore-request-id"]
    for probe in ("/healthz", "/readyz", "/metrics"):
        assert (await server.http.get(probe)).status_code == 200
    await server.close()  # the spans are flushed at exit

    text = server.log_path.read_text()
    spans = exported_spans(text)
    assert not [span for span in spans if span["name"].startswith("GET")], "probes are not traced"
    [operation] = [span for span in spans if span["name"] == "mutation Arrive"]
    attributes = operation["attributes"]
    assert attributes["petstore.event_id"] == payload["event"]["id"]
    assert attributes["petstore.pet_id"] == payload["pet"]["id"]
    # The server's own id (the audit id); the request's span has the client's beside it.
    assert attributes["petstore.request_id"] == server_request_id
    assert attributes["graphql.operation.type"] == "mutation"
    assert attributes["graphql.operation.name"] == "Arrive"
    assert operation["resource"]["attributes"]["service.name"] == "petstore-under-test"

    [request] = [span for span in spans if span["context"]["span_id"] == operation["parent_id"]]
    assert request["kind"] == "SpanKind.SERVER"
    assert request["attributes"]["petstore.request_id"] == server_request_id
    assert request["attributes"]["petstore.client_request_id"] == REQUEST_ID
    assert request["parent_id"] is None

    statements = [
        span["attributes"].get("db.statement") or span["attributes"].get("db.query.text") or ""
        for span in descendants(spans, operation)
    ]
    # The append, one statement: the compiled path's INSERT with the payload
    # around it, or strawberry's call of sql/0020's function.
    insert = "with appended as (insert into pet_arrived_events "
    call = "petstore_append_pet_arrived("
    assert any(s.startswith(insert) or call in s for s in statements), statements
    trace_id = operation["context"]["trace_id"]
    assert {span["context"]["trace_id"] for span in descendants(spans, request)} == {trace_id}

    [access] = [
        line
        for line in map(json.loads, (li for li in text.splitlines() if li.startswith('{"')))
        if line.get("logger") == "graphql_petstore.access"
        and line["request_id"] == server_request_id
    ]
    assert access["client_request_id"] == REQUEST_ID
    assert "0x" + access["trace_id"] == trace_id
    [plain_access] = [
        line
        for line in map(json.loads, (li for li in text.splitlines() if li.startswith('{"')))
        if line.get("logger") == "graphql_petstore.access"
        and line["request_id"] == plain_request_id
    ]
    traced = {span["context"]["trace_id"] for span in spans}
    assert "0x" + plain_access["trace_id"] in traced, plain_access


NO_OPENTELEMETRY = """
import sys
from graphql_petstore.app import create_app
from graphql_petstore.settings import Settings
create_app(Settings(), "postgresql://nobody@127.0.0.1:1/nothing")
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
assert loaded == [], loaded
"""

EXTRA_MISSING = """
import logging, sys
sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
from graphql_petstore.observability import tracing
assert tracing.requested()
assert tracing.start() is None
assert not tracing.enabled()
"""


def run_python(code: str, **env: str) -> str:
    clean = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_the_otel_variables_nothing_of_opentelemetry_is_imported() -> None:
    run_python(NO_OPENTELEMETRY)


def test_without_the_extra_the_server_says_so_and_runs_untraced() -> None:
    said = run_python(EXTRA_MISSING, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
    assert "pip install 'graphql-petstore[otel]'" in said
