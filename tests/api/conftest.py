from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from graphql_petstore.app import create_app
from graphql_petstore.settings import Settings
from tests.api.store import Store
from tests.conftest import GraphQLClient

SHUTDOWN_TIMEOUT = 10.0


@pytest_asyncio.fixture(loop_scope="session")
async def app(settings: Settings, api_database_url: str) -> AsyncIterator[Starlette]:
    """The real application, as in tests/conftest.py (logged in as
    petstore_api), except that a shutdown that hangs fails the test's teardown
    instead of hanging the whole run (see test_app_shutdown.py)."""
    application = create_app(settings, api_database_url)
    lifespan = application.router.lifespan_context(application)
    await lifespan.__aenter__()
    try:
        yield application
    finally:
        shutdown = asyncio.ensure_future(lifespan.__aexit__(None, None, None))
        done, _ = await asyncio.wait({shutdown}, timeout=SHUTDOWN_TIMEOUT)
        if shutdown not in done:
            await _force_stop(application, shutdown)
            pytest.fail(
                f"the app's lifespan shutdown did not finish within {SHUTDOWN_TIMEOUT} s "
                "(the event stream task ignored its cancellation; see test_app_shutdown.py)"
            )


async def _force_stop(application: Starlette, shutdown: asyncio.Future[Any]) -> None:
    task = getattr(application.state.stream, "_task", None)
    while task is not None and not task.done():
        task.cancel()
        await asyncio.sleep(0.01)
    await asyncio.wait({shutdown}, timeout=SHUTDOWN_TIMEOUT)


@pytest.fixture
def store(gql: GraphQLClient) -> Store:
    return Store(gql)


@pytest_asyncio.fixture(loop_scope="session")
async def raw_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but an exception that escapes the app becomes the 500
    response a real server would send, instead of being raised in the test."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://petstore.test") as http:
        yield http
