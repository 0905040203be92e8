"""A serving process freezes what its app's startup made; an app that is not
the whole process (a test's, an embedder's) leaves the collector alone
(graphql_petstore.gc_tuning)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Starts the real app on the test's database, as serve's workers do or not,
# and prints the collector's state once it has started.
_SCRIPT = """
import asyncio, gc, sys
from graphql_petstore.app import create_app
from graphql_petstore.settings import Settings

async def main():
    app = create_app(Settings(), sys.argv[1], serving=sys.argv[2] == "serving")
    async with app.router.lifespan_context(app):
        print(gc.get_freeze_count())

asyncio.run(main())
"""


@pytest.mark.parametrize("serving", [True, False])
def test_a_serving_process_freezes_what_its_startup_made(
    api_database_url: str, serving: bool
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, api_database_url, "serving" if serving else "embedded"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    frozen = int(done.stdout)
    if serving:
        assert frozen > 10_000  # the schema, the modules, the app
    else:
        assert frozen == 0
