"""examples/ run as tests: each against a real server, its output checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.subscriptions.support import API_TOKEN, Server
from tests.tools import ROOT, require_executable, require_node_packages

EXAMPLES = ROOT / "examples"
EXAMPLE_TIMEOUT = 120


def _run(command: list[str], server: Server) -> list[str]:
    env = {**os.environ, "PETSTORE_URL": server.graphql_url, "TOKEN": API_TOKEN}
    result = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{server.log()}"
    return result.stdout.splitlines()


@pytest.mark.once
def test_curl_example(server: Server) -> None:
    require_executable("curl", "apt-get install curl")
    lines = _run(["sh", str(EXAMPLES / "curl.sh")], server)
    answers = [line for line in lines if not line.startswith("#")]
    assert answers == [
        '{"data":{"pets":{"edges":[]}}}',
        '{"data":{"recordPetArrival":{"pet":{"name":"Rex","status":"AVAILABLE"},"userErrors":[]}}}',
        '{"data":{"recordPetArrival":{"pet":null,"userErrors":'
        '[{"code":"VALIDATION_FAILED","field":["input","price"]}]}}}',
        '{"errors":[{"message":"PersistedQueryNotFound",'
        '"extensions":{"code":"PERSISTED_QUERY_NOT_FOUND"}}]}',
        '{"data":{"pets":{"edges":[{"node":{"name":"Rex"}}]}}}',
        '{"data":{"pets":{"edges":[{"node":{"name":"Rex"}}]}}}',
    ]


@pytest.mark.once
def test_python_gql_example_resumes_its_subscription_from_a_cursor(server: Server) -> None:
    lines = _run([sys.executable, str(EXAMPLES / "python_gql.py")], server)
    assert lines == [
        "query: 0 pets",
        "wrote: Mochi (AVAILABLE)",
        "subscribed: 1 events, the last PET_ARRIVED Mochi",
        "disconnected",
        "wrote: Olive (AVAILABLE)",
        "resumed after the last cursor: PET_ARRIVED Olive",
    ]


@pytest.mark.once
def test_graphql_ws_example_receives_the_event_it_wrote(server: Server) -> None:
    node = require_node_packages()
    lines = _run([node, str(EXAMPLES / "subscribe.mjs")], server)
    assert len(lines) == 2, lines
    assert lines[0].startswith("wrote: Kiwi (")
    assert lines[1] == "received: PET_ARRIVED Kiwi the Parrot at 150.00"


@pytest.mark.once
def test_apollo_client_sends_a_persisted_query_by_get_after_one_miss(server: Server) -> None:
    node = require_node_packages()
    lines = _run([node, str(EXAMPLES / "apollo_persisted_query.mjs")], server)
    assert lines == [
        "request 1: GET hash only -> PERSISTED_QUERY_NOT_FOUND",
        "request 2: POST hash and query",
        "round 1: 0 available pets",
        "request 3: GET hash only",
        "round 2: 0 available pets",
    ]


def test_every_example_has_a_test() -> None:
    tested = {"curl.sh", "python_gql.py", "subscribe.mjs", "apollo_persisted_query.mjs"}
    assert {path.name for path in EXAMPLES.iterdir() if path.is_file()} - {"README.md"} == tested


def test_examples_say_how_to_run_them() -> None:
    for path in EXAMPLES.iterdir():
        text = Path(path).read_text()
        assert "PETSTORE_URL=" in text, path.name
