"""The app's lifespan ends promptly, whatever its background tasks are doing."""

from __future__ import annotations

import asyncio

from graphql_petstore.app import create_app
from graphql_petstore.settings import Settings
from tests.conftest import API_TOKEN, API_TOKEN_NAME

SHUTDOWN_TIMEOUT = 2.0


async def test_shutdown_completes_when_the_doorbell_rings_at_that_moment(
    api_database_url: str,
) -> None:
    app = create_app(Settings(api_tokens={API_TOKEN: API_TOKEN_NAME}), api_database_url)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    stream = app.state.stream

    async def subscriber() -> None:
        async for _ in stream.follow(None):
            pass

    subscription = asyncio.create_task(subscriber())
    shutdown: asyncio.Future[object] | None = None
    try:
        await asyncio.sleep(0.3)  # the stream follows the head and waits for the bell
        # A notification arrives just as the server begins to shut down.
        app.state.doorbell.ring()
        shutdown = asyncio.ensure_future(lifespan.__aexit__(None, None, None))
        done, _ = await asyncio.wait({shutdown}, timeout=SHUTDOWN_TIMEOUT)
        assert shutdown in done, "the app's shutdown hangs"
    finally:
        # Leave nothing running in the session's loop: cancel until it ends.
        for task in (stream._task, subscription):
            while task is not None and not task.done():
                task.cancel()
                await asyncio.sleep(0.01)
        if shutdown is None:
            await lifespan.__aexit__(None, None, None)
        else:
            await asyncio.wait({shutdown}, timeout=SHUTDOWN_TIMEOUT)
