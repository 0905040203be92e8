"""The application in-process on a cluster database, and a client that
reads which node served each answer."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from graphql_petstore.app import create_app
from graphql_petstore.database.consistency import TOKEN_HEADER
from graphql_petstore.settings import Settings
from tests.conftest import API_TOKEN, API_TOKEN_NAME

ARRIVE = """
mutation($input: RecordPetArrivalInput!) {
  recordPetArrival(input: $input) {
    pet { id name price version } userErrors { code message } consistencyToken
  }
}
"""
CHANGE_PRICE = """
mutation($input: ChangePetPriceInput!) {
  changePetPrice(input: $input) {
    pet { id price version } userErrors { code message } consistencyToken
  }
}
"""
PET = "query($id: UUID!) { pet(id: $id) { id name price version } }"
PETS = "query { pets(first: 100) { edges { node { id name price } } } }"


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def data(self) -> Any:
        assert "errors" not in self.body, self.body
        return self.body["data"]

    @property
    def served_by(self) -> dict[str, Any]:
        served: dict[str, Any] = self.body["extensions"]["servedBy"]
        return served


class Client:
    def __init__(
        self, http: httpx.AsyncClient, app: Starlette | None = None, api_token: str = API_TOKEN
    ) -> None:
        self.http = http
        self.app = app
        self.api_token = api_token

    async def post(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        write: bool = False,
    ) -> Answer:
        headers = {"Authorization": f"Bearer {self.api_token}"} if write else {}
        if token is not None:
            headers[TOKEN_HEADER] = token
        response = await self.http.post(
            "/graphql", json={"query": document, "variables": variables or {}}, headers=headers
        )
        return Answer(response.status_code, response.json())

    async def arrive(self, name: str, price: str = "10.00") -> tuple[str, str]:
        """Records an arrival; returns the pet's id and the consistency token."""
        answer = await self.post(
            ARRIVE, {"input": {"name": name, "species": "Cat", "price": price}}, write=True
        )
        payload = answer.data["recordPetArrival"]
        assert payload["userErrors"] == [], payload
        return payload["pet"]["id"], payload["consistencyToken"]

    async def change_price(self, pet_id: str, price: str) -> str:
        answer = await self.post(
            CHANGE_PRICE, {"input": {"petId": pet_id, "newPrice": price}}, write=True
        )
        payload = answer.data["changePetPrice"]
        assert payload["userErrors"] == [], payload
        token: str = payload["consistencyToken"]
        return token

    async def pet(self, pet_id: str, token: str | None = None) -> Answer:
        return await self.post(PET, {"id": pet_id}, token=token)


def settings(**overrides: Any) -> Settings:
    return Settings(api_tokens={API_TOKEN: API_TOKEN_NAME}, **overrides)


@contextlib.asynccontextmanager
async def petstore(database_url: str, **overrides: Any) -> AsyncIterator[Client]:
    """The app (its lifespan running) on `database_url`, with these settings."""
    app = create_app(settings(**overrides), database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://petstore.test") as http:
            yield Client(http, app)


def serve_exits(env: dict[str, str]) -> tuple[int, str]:
    """Runs serve until it exits (it must, by refusing to start)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PETSTORE_")}
    environment.update(env)
    environment["PETSTORE_API_TOKENS"] = f"tester:{API_TOKEN}"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("graphql-petstore")), "serve", "--port", "0"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, result.stderr
