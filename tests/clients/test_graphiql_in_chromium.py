"""GraphiQL works with no route to anywhere but this server: headless
Chromium, every other request blocked, renders it, runs the example query,
a mutation with a token from the Headers pane, and a subscription that
receives an event another client writes. The screenshot is kept in
test-artifacts/."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.subscriptions.support import API_TOKEN, Server
from tests.tools import ROOT, require_executable, require_node_packages

ARTIFACTS = ROOT / "test-artifacts"
SCRIPT = Path(__file__).with_name("graphiql.mjs")
BROWSER_TIMEOUT = 180


@pytest.mark.once
def test_graphiql_runs_a_query_a_mutation_and_a_subscription_offline(server: Server) -> None:
    node = require_node_packages()
    require_executable("chromium", "apt-get install chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "graphiql.png"
    result = subprocess.run(
        [node, str(SCRIPT), server.url, API_TOKEN, str(screenshot)],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT,
        cwd=ROOT,
    )
    lines = result.stdout.strip().splitlines()
    assert lines, f"no report from the browser script:\n{result.stderr}\n{server.log()}"
    report = json.loads(lines[-1])
    assert result.returncode == 0, json.dumps(report, indent=2)
    assert report["blocked"] == [], "GraphiQL asked for something that is not on this server"
    assert report["steps"] == [
        "rendered",
        "example query",
        "mutation with a token",
        "subscription event",
    ]
    assert "errors" not in report["exampleQuery"], report["exampleQuery"]
    payload = report["mutation"]["data"]["recordPetArrival"]
    assert payload["userErrors"] == []
    assert payload["pet"]["name"] == "Biscuit"
    event = report["subscription"]["data"]["events"]
    assert event == {"type": "PET_ARRIVED", "name": "Pebble", "species": "Turtle"}
    assert screenshot.stat().st_size > 10_000
