"""A request whose client goes away stops, its statement with it: a real
`serve` process, a client that closes its socket while its query waits for a
lock the test holds, and PostgreSQL's own view of the backend afterwards."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.api.slow_database import GENEROUS, PETS, eventually, pets_locked, waiting_on_the_lock
from tests.faults.serve import Serve

# Neither time limit may be what stops the request: only its client leaving.
UNLIMITED = {"PETSTORE_REQUEST_TIMEOUT": "600", "PETSTORE_STATEMENT_TIMEOUT": "600"}


def send_and_leave_open(port: int, document: str) -> socket.socket:
    body = json.dumps({"query": document}).encode()
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(
        b"POST /graphql HTTP/1.1\r\nHost: petstore\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return client


@pytest.mark.once
@pytest.mark.parametrize("compiled", ["on", "off"], ids=["compiled", "strawberry"])
async def test_a_request_whose_client_disconnects_stops_and_its_statement_is_cancelled(
    database_url: str, conn: asyncpg.Connection, tmp_path: Path, compiled: str
) -> None:
    env = {**UNLIMITED, "PETSTORE_COMPILED_OPERATIONS": compiled}
    server = Serve(database_url, tmp_path / "serve.log", env)
    await asyncio.to_thread(server.start)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            # Sessions open before the lock (a new one's first query waits for it too).
            warmed = await http.post("/graphql", json={"query": PETS})
            assert warmed.status_code == 200, warmed.text
        async with pets_locked(conn):
            client = send_and_leave_open(server.port, PETS)
            try:
                await eventually(lambda: waiting_on_the_lock(conn), 1)
            finally:
                client.close()
            # The lock is still held: only a cancelled statement stops waiting.
            await eventually(lambda: waiting_on_the_lock(conn), 0)
            assert server.process is not None
            assert server.process.poll() is None
        async with httpx.AsyncClient(base_url=server.url) as http:
            after = await asyncio.wait_for(http.post("/graphql", json={"query": PETS}), GENEROUS)
            assert after.status_code == 200, after.text
            assert "errors" not in after.json()
    finally:
        await asyncio.to_thread(server.stop)
