"""The README's commands and examples are what CI and users run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from graphql import parse, validate

from graphql_petstore.api.schema import create_schema
from graphql_petstore.settings import Settings
from tests.conftest import GraphQLClient

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_readme_starts_with_the_run_and_test_commands() -> None:
    run, test = _blocks("sh")[:2]
    assert run.strip().endswith("graphql-petstore serve")
    assert test.strip().endswith(".venv/bin/pytest -n auto")
    assert README.index(run) < README.index("## ")


def test_ci_runs_the_readme_test_command_exactly() -> None:
    test_command = _blocks("sh")[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


async def test_readme_graphql_examples_work(gql: GraphQLClient) -> None:
    mutation, query, _subscription = _blocks("graphql")
    written = await gql.write(mutation)
    assert "errors" not in written, written
    assert written["data"]["recordPetArrival"]["userErrors"] == []
    assert written["data"]["recordPetArrival"]["pet"]["name"] == "Fluffy"

    read = await gql.query(query)
    assert "errors" not in read, read
    names = [edge["node"]["name"] for edge in read["data"]["pets"]["edges"]]
    assert names == ["Fluffy"]
    history = read["data"]["pets"]["edges"][0]["node"]["history"]["nodes"]
    assert [event["type"] for event in history] == ["PET_ARRIVED"]


async def test_readme_curl_example_works(gql: GraphQLClient) -> None:
    curl = next(block for block in _blocks("sh") if "curl -s" in block)
    assert curl.startswith("export TOKEN=$(.venv/bin/graphql-petstore token)\n")
    body = json.loads(re.search(r"-d '(.*)'", curl, flags=re.DOTALL).group(1))  # type: ignore[union-attr]
    result = await gql.write(body["query"])
    assert "errors" not in result, result
    payload = result["data"]["recordPetArrival"]
    assert payload["userErrors"] == []
    assert payload["pet"]["status"] == "AVAILABLE"


def test_readme_subscription_example_is_valid_against_the_schema() -> None:
    subscription = _blocks("graphql")[2]
    schema = create_schema(Settings())
    errors = validate(schema._schema, parse(subscription))
    assert errors == []
    assert subscription.lstrip().startswith("subscription")
