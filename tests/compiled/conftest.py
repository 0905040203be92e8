"""Two apps on one database: the compiled path, and strawberry alone (the
reference). A Twin sends each request to both and returns both answers, and
tells which of them the compiled path answered itself."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
from starlette.applications import Starlette

from graphql_petstore.app import create_app
from graphql_petstore.settings import Settings
from tests.api.store import Store
from tests.conftest import API_TOKEN, GraphQLClient

_REQUEST_ID = re.compile(rb'"requestId":"[^"]*"')


@dataclass
class Answers:
    compiled: bytes
    reference: bytes
    answered_by_compiled: bool

    @property
    def same(self) -> bool:
        return self.compiled == self.reference

    @property
    def same_but_request_ids(self) -> bool:
        """Equal once the request ids of masked errors (made per request) are set aside."""
        return _REQUEST_ID.sub(b"", self.compiled) == _REQUEST_ID.sub(b"", self.reference)


class Twin:
    def __init__(self, compiled: httpx.AsyncClient, reference: httpx.AsyncClient, app: Starlette):
        self.compiled = compiled
        self.reference = reference
        self.endpoint = app.state.compiled

    async def ask(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        *,
        token: bool = False,
        operation_name: str | None = None,
    ) -> Answers:
        body: dict[str, Any] = {"query": document, "variables": variables}
        if operation_name is not None:
            body["operationName"] = operation_name
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if token else {}
        before = self.endpoint.answered
        compiled = await self.compiled.post("/graphql", json=body, headers=headers)
        answered = self.endpoint.answered > before
        reference = await self.reference.post("/graphql", json=body, headers=headers)
        assert compiled.status_code == reference.status_code
        assert compiled.headers["content-type"] == reference.headers["content-type"]
        return Answers(compiled.content, reference.content, answered)


async def _client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://petstore.test") as http:
            yield http


@pytest_asyncio.fixture(loop_scope="session")
async def compiled_app(settings: Settings, api_database_url: str) -> Starlette:
    return create_app(settings, api_database_url)


@pytest_asyncio.fixture(loop_scope="session")
async def twin(
    compiled_app: Starlette, settings: Settings, api_database_url: str
) -> AsyncIterator[Twin]:
    reference_app = create_app(
        dataclasses.replace(settings, compiled_operations=False), api_database_url
    )
    async for compiled in _client(compiled_app):
        async for reference in _client(reference_app):
            yield Twin(compiled, reference, compiled_app)


@pytest_asyncio.fixture(loop_scope="session")
async def store(twin: Twin) -> Store:
    """Records events through the compiled app."""
    return Store(GraphQLClient(twin.compiled))
