"""The envelope's one send: what it tells the request's bounds.

A response that has started cannot be answered again. When a request's
time limit comes after the app sent the response's head, the request is
stopped and its response cut short, never followed by a second head (the
503 of a request stopped before it answered), which uvicorn would refuse as
an unexpected error. Every response of the real app leaves whole at once, so
only an app of our own can start one and then dawdle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from typing import Any

import pytest
import uvicorn

from graphql_petstore.envelope import Envelope
from graphql_petstore.settings import Settings


async def _head_then_nothing(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    head = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    await send(head)
    await asyncio.sleep(30)
    await send({"type": "http.response.body", "body": b"ok"})


async def test_a_response_started_before_the_time_limit_is_cut_not_answered_twice(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    limited = dataclasses.replace(settings, request_timeout=0.3)
    app = Envelope(_head_then_nothing, limited)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
            await asyncio.sleep(0.01)
        with caplog.at_level(logging.WARNING):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 2\r\n\r\n{}"
            )
            answer = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        assert answer.startswith(b"HTTP/1.1 200"), answer
        assert answer.count(b"HTTP/1.1") == 1, answer
        assert b"REQUEST_TIMEOUT" not in answer
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
