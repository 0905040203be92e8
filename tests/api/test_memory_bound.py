"""Distinct large documents do not grow the server: every cache that keys on
a client's document (strawberry's parsed and validated documents, the
compiled plans, persisted queries) is bounded in bytes, not only in entries.

A real server process; its resident memory measured with psutil after a
warm-up and after a thousand distinct 200 KB documents. Before the bound, a
thousand such documents grew the process by about half a gigabyte, linearly.
"""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from tests.subscriptions.support import start_server

DOCUMENTS = 1_000
DOCUMENT_BYTES = 200_000
WARM_UP = 50
# Generous: the bounded caches hold tens of megabytes at most, and the
# allocator keeps some of what was freed.
MAX_GROWTH_BYTES = 150 * 1024 * 1024


def document(number: int) -> str:
    """A distinct document of about DOCUMENT_BYTES, within the token limit:
    a long string in a filter (the compiled path answers it) or in an
    introspection query (strawberry answers it)."""
    padding = f"{number:08d}" + "x" * (DOCUMENT_BYTES - 8)
    if number % 2:
        return f'{{ pets(filter: {{species: "{padding}"}}) {{ nodes {{ id }} }} }}'
    return f'{{ __type(name: "{padding}") {{ name }} }}'


def resident(process: psutil.Process) -> int:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


@pytest.mark.once
async def test_many_distinct_large_documents_leave_memory_bounded(
    database_url: str, tmp_path: Path
) -> None:
    server = await start_server(database_url, tmp_path)
    try:
        process = psutil.Process(server.process.pid)

        async def send(number: int) -> None:
            response = await server.http.post("/graphql", json={"query": document(number)})
            assert response.status_code == 200, response.text[:300]
            assert "errors" not in response.json(), response.text[:300]

        for number in range(WARM_UP):
            await send(number)
        before = resident(process)
        for number in range(WARM_UP, WARM_UP + DOCUMENTS):
            await send(number)
        after = resident(process)
        print(f"RSS before {before / 2**20:.0f} MiB, after {after / 2**20:.0f} MiB")
        assert after - before < MAX_GROWTH_BYTES, (before, after)
    finally:
        await server.close()
