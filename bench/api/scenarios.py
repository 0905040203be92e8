"""The scenarios of api_bench.py: each runs virtual users against the real
server (or raw SQL) and records one Result row."""

from __future__ import annotations

import argparse
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from harness.cpu import CpuMeter, Processes
from harness.database import connected
from harness.http_client import HttpConnection, Requests, graphql_data
from harness.load import Operation, User, run_load
from harness.raw import RAW_NAMES, raw_ceiling
from harness.report import say_result
from harness.results import Result
from harness.seeding import random_price
from harness.workers import balanced_connections

MUTATION = (
    "mutation ChangePrice($input: ChangePetPriceInput!) { changePetPrice(input: $input) {"
    " event { id type ... on PetPriceChange { oldPrice newPrice } }"
    " pet { id price version } userErrors { code message field } } }"
)
PETS_PAGE = (
    "query PetsPage { pets(first: 50) { edges { node { id name species price status version } }"
    " pageInfo { hasNextPage endCursor } } }"
)
PET_WITH_HISTORY = (
    "query PetWithHistory($id: UUID!) { pet(id: $id) { id name price status"
    " history(first: 20) { edges { node { type createdAt"
    " ... on PetPriceChange { oldPrice newPrice } } } } } }"
)
# The operations of ../shared/bench-peer (PostGraphile on the same database).
POINT_READ = "query Pet($id: UUID!) { pet(id: $id) { id name species price status } }"
NESTED_PAGE = (
    "query NestedPage { pets(first: 20) { edges { node { id name price"
    " mother { id name } history(first: 5) { edges { node { id type createdAt } } } } } } }"
)
EVENTS_PAGE = (
    "query EventsPage { events(first: 50) { edges { cursor node { id type petId createdAt } } } }"
)


@dataclass
class Bench:
    args: argparse.Namespace
    url: str
    requests: Requests
    meter: CpuMeter
    server_processes: str
    pet_ids: list[str]  # every pet
    changeable: list[str]  # the pets that are not SOLD
    # The server's processes, to see which worker accepted a connection.
    worker_processes: Processes | None = None
    results: list[Result] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return float(self.args.duration)

    def record(self, result: Result, keep: bool = True) -> Result:
        if keep:
            self.results.append(result)
        say_result(result)
        return result

    async def _http_load(
        self,
        result: Result,
        operation_for: Callable[[int, HttpConnection], Operation],
    ) -> Result:
        # One open keep-alive connection per virtual user, spread evenly over
        # the server's workers, as a load balancer in front of them would.
        connections, note = await balanced_connections(
            self.requests.host,
            self.requests.port,
            result.concurrency,
            self.args.workers,
            self.worker_processes,
        )
        if note:
            result.note = note

        async def make_user(index: int) -> User:
            connection = connections[index]
            return operation_for(index, connection), connection.close

        return await run_load(result, make_user, self.args.warmup, self.meter)

    async def healthz(self, concurrency: int) -> Result:
        data = self.requests.get("/healthz")

        def operation_for(index: int, connection: HttpConnection) -> Operation:
            async def op() -> str | None:
                status, body = await connection.request(data)
                return None if status == 200 else f"HTTP {status}: {body[:200]!r}"

            return op

        result = Result(
            "generator: GET /healthz", "gen", concurrency, self.server_processes, self.duration
        )
        return self.record(await self._http_load(result, operation_for))

    async def change_price(self, concurrency: int, label: str = "", keep: bool = True) -> Result:
        async with connected(self.url) as conn:
            rows = await conn.fetch("select id::text as id, current_price from pets")
        prices: dict[str, Decimal] = {row["id"]: row["current_price"] for row in rows}
        rng = random.Random(concurrency)

        def operation_for(index: int, connection: HttpConnection) -> Operation:
            # Each user owns its own pets: no two requests wait for one row lock.
            mine = self.changeable[index::concurrency]
            position = 0

            async def op() -> str | None:
                nonlocal position
                pet_id = mine[position % len(mine)]
                position += 1
                old = prices[pet_id]
                new = random_price(rng, old)
                status, body = await connection.request(
                    self.requests.graphql(
                        MUTATION, {"input": {"petId": pet_id, "newPrice": str(new)}}
                    )
                )
                error, data = graphql_data(status, body)
                if error is not None:
                    return error
                payload = data["changePetPrice"]
                if payload["userErrors"]:
                    return f"userErrors: {payload['userErrors']}"
                if (
                    Decimal(payload["event"]["oldPrice"]) != old
                    or Decimal(payload["pet"]["price"]) != new
                ):
                    return f"unexpected payload for {pet_id} ({old} -> {new}): {payload}"
                prices[pet_id] = new
                return None

            return op

        result = Result(
            f"API changePetPrice{label}", "api", concurrency, self.server_processes, self.duration
        )
        return self.record(await self._http_load(result, operation_for), keep)

    async def _query(
        self,
        name: str,
        concurrency: int,
        build: Callable[[random.Random], bytes],
        check: Callable[[dict[str, Any]], str | None],
        keep: bool = True,
    ) -> Result:
        def operation_for(index: int, connection: HttpConnection) -> Operation:
            rng = random.Random(index)

            async def op() -> str | None:
                status, body = await connection.request(build(rng))
                error, data = graphql_data(status, body)
                return error if error is not None else check(data)

            return op

        result = Result(name, "api", concurrency, self.server_processes, self.duration)
        return self.record(await self._http_load(result, operation_for), keep)

    async def custom(
        self,
        name: str,
        concurrency: int,
        request: Callable[[HttpConnection, random.Random], Awaitable[str | None]],
    ) -> Result:
        """A scenario whose users each call `request` (an error text or None)
        on their own connection, with their own random generator."""

        def operation_for(index: int, connection: HttpConnection) -> Operation:
            rng = random.Random(index)

            async def op() -> str | None:
                return await request(connection, rng)

            return op

        result = Result(name, "api", concurrency, self.server_processes, self.duration)
        return self.record(await self._http_load(result, operation_for))

    async def pets_page(self, concurrency: int, label: str = "", keep: bool = True) -> Result:
        data = self.requests.graphql(PETS_PAGE)

        def check(document: dict[str, Any]) -> str | None:
            edges = document["pets"]["edges"]
            return None if len(edges) == 50 else f"pets page had {len(edges)} edges"

        return await self._query(
            f"API pets(first: 50){label}", concurrency, lambda rng: data, check, keep
        )

    async def pet_with_history(self, concurrency: int) -> Result:
        ids = self.pet_ids

        def build(rng: random.Random) -> bytes:
            return self.requests.graphql(PET_WITH_HISTORY, {"id": rng.choice(ids)})

        def check(document: dict[str, Any]) -> str | None:
            pet = document["pet"]
            if pet is None or not pet["history"]["edges"]:
                return f"pet without history: {pet}"
            return None

        return await self._query("API pet + history(first: 20)", concurrency, build, check)

    async def point_read(self, concurrency: int, label: str = "") -> Result:
        ids = self.pet_ids

        def build(rng: random.Random) -> bytes:
            return self.requests.graphql(POINT_READ, {"id": rng.choice(ids)})

        def check(document: dict[str, Any]) -> str | None:
            return None if document["pet"] is not None else "a seeded pet was not found"

        return await self._query(f"API pet(id){label}", concurrency, build, check)

    async def nested_page(self, concurrency: int, label: str = "") -> Result:
        data = self.requests.graphql(NESTED_PAGE)

        def check(document: dict[str, Any]) -> str | None:
            edges = document["pets"]["edges"]
            return None if len(edges) == 20 else f"nested page had {len(edges)} edges"

        return await self._query(
            f"API pets(first: 20) + mother + history{label}", concurrency, lambda rng: data, check
        )

    async def events_page(self, concurrency: int) -> Result:
        data = self.requests.graphql(EVENTS_PAGE)

        def check(document: dict[str, Any]) -> str | None:
            edges = document["events"]["edges"]
            return None if len(edges) == 50 else f"events page had {len(edges)} edges"

        return await self._query("API events(first: 50)", concurrency, lambda rng: data, check)

    async def raw(
        self, kind: str, concurrency: int, processes: int = 1, name: str | None = None
    ) -> Result:
        result = Result(
            name or RAW_NAMES[kind],
            "raw" if name is None else "ref",
            concurrency,
            f"cli={processes}",
            self.duration,
        )
        await raw_ceiling(
            kind, self.url, self.changeable, processes, result, self.args.warmup, self.meter
        )
        return self.record(result)
