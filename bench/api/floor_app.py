"""The floor of a changePetPrice on this stack: the least an ASGI app can do
for the bench's mutation, run as the server is run (uvicorn with the
project's HTTP protocol class, uvloop, asyncpg on the same database with the
server's session settings). bench/mutation_floor_bench.py measures the
server against it and against pgbench's ceiling in the same run.

Per request it checks the bearer token, parses the body, reads the pet's id
and the price, makes the event's id, and runs the one INSERT … RETURNING
that the server's compiled path runs for this document (the statement is
the server's own: compiled/operations.py, read from `PETSTORE_FLOOR_SQL`),
on one of `--pool` connections, then writes the response. Nothing else: no
GraphQL document is read, no plan looked up, no rule checked before the
database, no limits, metrics or access lines. What the server spends beyond
this app is what its own features cost per request; what this app reaches
is what any server on this stack could reach.

    python bench/api/floor_app.py --port 8001 --workers 1
    (DATABASE_URL, PETSTORE_API_TOKENS=name:token and PETSTORE_FLOOR_SQL set)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import decimal
import os
import uuid
from typing import Any

import asyncpg
import orjson

from graphql_petstore.api.library_internals.uvicorn import HEADER_TIMEOUT_PROTOCOL
from graphql_petstore.database.engine import session_settings
from graphql_petstore.database.ids import new_id
from graphql_petstore.database.location import libpq_url
from graphql_petstore.database.pool import pool_settings

_SQL = os.environ.get("PETSTORE_FLOOR_SQL", "")
_NAME, _, _TOKEN = os.environ.get("PETSTORE_API_TOKENS", "bench:").partition(":")
_AUTHORIZATION = b"Bearer " + _TOKEN.encode()
_POOL = int(os.environ.get("PETSTORE_FLOOR_POOL", "10"))
_HEADERS = [(b"content-type", b"application/json")]

_idle: collections.deque[asyncpg.Connection] = collections.deque()
_waiting: collections.deque[asyncio.Future[asyncpg.Connection]] = collections.deque()


async def _startup() -> None:
    settings = pool_settings(session_settings(None))
    for _ in range(_POOL):
        _idle.append(
            await asyncpg.connect(libpq_url(os.environ["DATABASE_URL"]), server_settings=settings)
        )


async def _respond(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await _startup()
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["method"] == "GET":  # the bench's readiness probe
        await _respond(send, 200, b'{"status":"ok"}')
        return
    if dict(scope["headers"]).get(b"authorization") != _AUTHORIZATION:
        await _respond(send, 401, b'{"errors":[{"message":"no valid token"}]}')
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    variables = orjson.loads(body)["variables"]
    pet, price = uuid.UUID(variables["id"]), decimal.Decimal(variables["price"])
    metadata = orjson.dumps({"actor": _NAME, "requestId": os.urandom(16).hex()}).decode()
    if _idle:
        conn = _idle.popleft()
    else:
        waiter = asyncio.get_running_loop().create_future()
        _waiting.append(waiter)
        conn = await waiter
    try:
        text = await conn.fetchval(_SQL, new_id(), pet, price, None, metadata, None)
    finally:
        if _waiting:
            _waiting.popleft().set_result(conn)
        else:
            _idle.append(conn)
    await _respond(send, 200, b'{"data":' + text.encode() + b"}")


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "floor_app:app",
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        server_header=False,
        log_level="warning",
        http=HEADER_TIMEOUT_PROTOCOL,
    )


if __name__ == "__main__":
    main()
