"""An unexpected failure reaches the client as "internal error" and a request
id, nothing more; the traceback goes to the log under that request id."""

from __future__ import annotations

import logging

import asyncpg
import httpx
import pytest

from tests.api.store import mutation_document
from tests.conftest import API_TOKEN

INTERNAL_ERROR = "internal error"  # contract: design §5


@pytest.fixture
async def pets_table_gone(conn: asyncpg.Connection) -> None:
    """Breaks the database under the app: the read model disappears."""
    await conn.execute("alter table pets rename to pets_gone")


@pytest.mark.usefixtures("pets_table_gone")
async def test_a_failing_resolver_answers_internal_error_with_the_request_id(
    raw_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await raw_client.post(
            "/graphql", json={"query": "{ pets(first: 3) { edges { node { id name } } } }"}
        )
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    body = response.json()
    assert body == {
        "data": None,
        "errors": [
            {
                "message": INTERNAL_ERROR,
                "locations": [{"line": 1, "column": 3}],
                "path": ["pets"],
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }
        ],
    }
    text = response.text.lower()
    for leak in ("relation", "pets_gone", "select", "from ", "sqlalchemy", "asyncpg", "traceback"):
        assert leak not in text, leak

    logged = [
        record
        for record in caplog.records
        if record.levelno == logging.ERROR and request_id in record.getMessage()
    ]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]
    [record] = logged
    assert record.exc_info is not None
    assert "pets" in str(record.exc_info[1])
    assert 'relation "pets" does not exist' in caplog.text


@pytest.mark.usefixtures("pets_table_gone")
async def test_a_failing_mutation_is_masked_too_and_keeps_the_clients_request_id(
    raw_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await raw_client.post(
            "/graphql",
            json={
                "query": mutation_document("recordPetArrival"),
                "variables": {"input": {"name": "F", "species": "Cat", "price": "1.00"}},
            },
            headers={"Authorization": f"Bearer {API_TOKEN}", "X-Request-ID": "masked-write-1"},
        )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "masked-write-1"
    # The error and the log name the server's own id of the request (the
    # access line has the client's beside it).
    server_id = response.headers["petstore-request-id"]
    [error] = response.json()["errors"]
    assert error["message"] == INTERNAL_ERROR
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": server_id}
    assert "pets" not in response.text.replace('"recordPetArrival"', "")
    assert any(
        r.levelno == logging.ERROR and server_id in r.getMessage() and r.exc_info
        for r in caplog.records
    )


async def test_errors_raised_on_purpose_are_not_masked(raw_client: httpx.AsyncClient) -> None:
    response = await raw_client.post(
        "/graphql", json={"query": "{ pets(first: 999) { edges { cursor } } }"}
    )
    [error] = response.json()["errors"]
    assert error["message"] != INTERNAL_ERROR
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
