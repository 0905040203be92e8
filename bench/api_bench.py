"""End-to-end API benchmark: the real server over loopback against raw SQL ceilings.

One command (see bench/README.md):

    .venv/bin/python bench/api_bench.py [--duration 6] [--workers 1]

It creates a fresh database (petstore_bench_<pid>) on the PostgreSQL server at
--server-url (else an embedded PostgreSQL under /tmp), migrates it, seeds pets
and events through the real triggers with set-based SQL, starts
`graphql-petstore serve` as a subprocess, and then measures, each scenario for
--warmup + --duration seconds:

  * the load generator itself against /healthz (its capacity: no API scenario
    may come near it, or the generator would be the bottleneck);
  * the API: changePetPrice at several concurrencies, a pets page of 50, one pet
    with its history, an events page of 50;
  * the raw ceilings through asyncpg: the same INSERT the API makes, in its own
    implicit transaction (and the API's exact transaction, for reference); the
    pets page's SQL, from several client processes so that the client is not
    the limit.

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio (uvloop
when installed): one connection per concurrent user, every response parsed and
checked. Any non-200, GraphQL error or userError counts as an error, and the run
exits 1 if any scenario had one. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import psutil

from graphql_petstore.database.appends import new_id
from graphql_petstore.database.location import with_database
from graphql_petstore.database.migrations import migrate

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CORES = psutil.cpu_count() or 1
TOKEN_NAME = "bench"

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
EVENTS_PAGE = (
    "query EventsPage { events(first: 50) { edges { cursor node { id type petId createdAt } } } }"
)

RAW_INSERT = (
    "insert into pet_price_change_events (id, pet_id, new_price, metadata, event_type)"
    " values ($1, $2, $3, $4, $5)"
)
# What the API's append does, statement for statement (one transaction).
RAW_API_INSERT = (
    "insert into pet_price_change_events (id, pet_id, new_price, old_price, metadata, event_type)"
    " values ($1, $2, $3, null, $4, $5)"
    " returning id, created_at, event_type, metadata, pet_id, pet_version, tx_id::text,"
    " seq, new_price, old_price"
)
RAW_API_SELECT_PET = "select * from pets where id = $1"
RAW_PETS_PAGE = "select * from pets order by id limit 51"


# --------------------------------------------------------------------------- output


def say(message: str = "") -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- results


@dataclass
class Result:
    name: str
    kind: str  # "api", "raw" or "gen"
    concurrency: int
    processes: str  # "srv=1" (server workers) or "cli=2" (client processes)
    duration: float
    latencies: list[float] = field(default_factory=list)  # seconds, completed in window
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # group -> % of one core
    note: str = ""
    ready_at: float = 0.0  # time.time() when its users were connected

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.duration if self.duration else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000.0

    def add_error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(message[:300])


# --------------------------------------------------------------------------- CPU accounting


class CpuMeter:
    """CPU seconds of groups of processes between two snapshots, as % of one core,
    plus the machine's idle share."""

    def __init__(self) -> None:
        self.groups: dict[str, Callable[[], list[psutil.Process]]] = {}
        self._start: dict[str, dict[int, float]] = {}
        self._sys_start: Any = None
        self._t0 = 0.0

    def add(self, name: str, processes: Callable[[], list[psutil.Process]]) -> None:
        self.groups[name] = processes

    @staticmethod
    def _times(processes: list[psutil.Process]) -> dict[int, float]:
        times: dict[int, float] = {}
        for process in processes:
            with contextlib.suppress(psutil.Error):
                t = process.cpu_times()
                times[process.pid] = t.user + t.system + t.children_user + t.children_system
        return times

    def start(self) -> None:
        self._start = {name: self._times(get()) for name, get in self.groups.items()}
        self._sys_start = psutil.cpu_times()
        self._t0 = time.perf_counter()

    def stop(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._t0
        usage: dict[str, float] = {}
        for name, get in self.groups.items():
            before = self._start.get(name, {})
            after = self._times(get())
            used = sum(after[pid] - before[pid] for pid in after if pid in before)
            usage[name] = 100.0 * used / elapsed if elapsed else math.nan
        sys_end = psutil.cpu_times()
        total = sum(sys_end) - sum(self._sys_start)
        waiting = sys_end.idle + getattr(sys_end, "iowait", 0.0)
        waiting -= self._sys_start.idle + getattr(self._sys_start, "iowait", 0.0)
        idle = waiting / total if total else math.nan
        usage["idle"] = 100.0 * idle
        # Whatever else kept the machine busy (other programs, the kernel): a
        # large share means the run was disturbed.
        usage["other"] = max(0.0, 100.0 * (1 - idle) * CORES - sum(usage[n] for n in self.groups))
        return usage


# --------------------------------------------------------------------------- HTTP client


class HttpConnection:
    """One HTTP/1.1 keep-alive connection: write a request, read one response."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader, self.writer = reader, writer
        return reader, writer

    async def open(self) -> int:
        """Connects now; returns the local port, by which the server's side of
        this connection can be found."""
        _, writer = await self._connect()
        return int(writer.get_extra_info("sockname")[1])

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            reader, writer = await self._connect()
        else:
            reader, writer = self.reader, self.writer
        writer.write(data)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        start = lower.find(b"\r\ncontent-length:")
        if start >= 0:
            end = lower.index(b"\r\n", start + 2)
            body = await reader.readexactly(int(lower[start + 17 : end]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
            body = b"".join(parts)
        else:
            body = await reader.read()
            await self.close()
        if b"\r\nconnection: close" in lower:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


class Requests:
    """Builds raw HTTP requests for one server."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host = host
        self.port = port
        self._post_head = (
            f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: "
        ).encode()

    def get(self, path: str) -> bytes:
        return f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> bytes:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        body = json.dumps(payload, separators=(",", ":")).encode()
        return self._post_head + str(len(body)).encode() + b"\r\n\r\n" + body


# --------------------------------------------------------------------------- load runner

# One operation of a virtual user: None when it succeeded, else an error text.
Operation = Callable[[], Awaitable[str | None]]
# A virtual user: its operation, and how to release what it holds.
User = tuple[Operation, Callable[[], Awaitable[None]]]


async def run_load(
    result: Result,
    make_user: Callable[[int], Awaitable[User]],
    warmup: float,
    meter: CpuMeter | None,
    start_at: float | None = None,
) -> Result:
    """Runs `result.concurrency` virtual users for warmup + duration and records
    the operations that complete inside the measurement window. With `start_at`
    (a time.time() value), the warm-up starts then, after the users exist."""
    users = [await make_user(i) for i in range(result.concurrency)]
    result.ready_at = time.time()
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    window_start = time.perf_counter() + warmup
    window_end = window_start + result.duration
    latencies = result.latencies

    async def user(operation: Operation) -> None:
        while True:
            t0 = time.perf_counter()
            if t0 >= window_end:
                return
            try:
                error = await operation()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            t1 = time.perf_counter()
            if error is not None:
                result.add_error(error if t1 >= window_start else f"(warm-up) {error}")
            elif window_start <= t1 <= window_end:
                latencies.append(t1 - t0)

    async def metering() -> None:
        if meter is None:
            return
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        meter.start()
        await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
        result.cpu = meter.stop()

    try:
        await asyncio.gather(metering(), *(user(operation) for operation, _ in users))
    finally:
        for _, release in users:
            await release()
    return result


def _graphql_data(status: int, body: bytes) -> tuple[str | None, dict[str, Any]]:
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}", {}
    document = json.loads(body)
    if document.get("errors"):
        return f"GraphQL errors: {json.dumps(document['errors'])[:250]}", {}
    data: dict[str, Any] = document.get("data") or {}
    return None, data


def _random_price(rng: random.Random, old: Decimal | None = None) -> Decimal:
    while True:
        new = Decimal(rng.randint(100, 99_999)).scaleb(-2)
        if new != old:
            return new


async def _accepted_by(
    processes: Callable[[], list[psutil.Process]], port: int, client_ports: list[int]
) -> dict[int, int]:
    """Which server process holds the server side of each client connection:
    {client port: pid}, for the connections accepted so far."""
    await asyncio.sleep(0.01)
    wanted = set(client_ports)
    owners: dict[int, int] = {}
    for process in processes():
        with contextlib.suppress(psutil.Error):
            for conn in process.net_connections(kind="tcp"):
                ours = conn.laddr and conn.laddr.port == port and conn.raddr
                if ours and conn.raddr.port in wanted:
                    owners[conn.raddr.port] = process.pid
    return owners


def _processes(pids: Sequence[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


# --------------------------------------------------------------------------- API scenarios


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
    worker_processes: Callable[[], list[psutil.Process]] | None = None
    results: list[Result] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return float(self.args.duration)

    def record(self, result: Result, keep: bool = True) -> Result:
        if keep:
            self.results.append(result)
        say(format_row(result))
        if result.note:
            say(f"      {result.note}")
        for sample in result.error_samples:
            say(f"      error: {sample}")
        return result

    async def _http_load(
        self,
        result: Result,
        operation_for: Callable[[int, HttpConnection], Operation],
    ) -> Result:
        connections = await self._balanced_connections(result)

        async def make_user(index: int) -> User:
            connection = connections[index]
            return operation_for(index, connection), connection.close

        return await run_load(result, make_user, self.args.warmup, self.meter)

    async def _balanced_connections(self, result: Result) -> list[HttpConnection]:
        """One open keep-alive connection per virtual user, spread evenly over
        the server's workers, as a load balancer in front of them would.

        uvicorn's workers share one listening socket and the kernel decides
        which accepts a connection: left alone, 7 of 8 connections can land
        on one worker while the other idles, and the figure measures that
        luck instead of the server. Connections on a worker that has more
        than its share are replaced until none has."""
        host, port = self.requests.host, self.requests.port
        connections: list[HttpConnection] = []
        ports: list[int] = []
        for _ in range(result.concurrency):
            connection = HttpConnection(host, port)
            ports.append(await connection.open())
            connections.append(connection)
        workers = self.args.workers
        if workers <= 1 or self.worker_processes is None:
            return connections
        share = -(-result.concurrency // workers)  # the most one worker should hold
        owners: dict[int, int] = {}
        for _attempt in range(200):
            owners = await _accepted_by(self.worker_processes, port, ports)
            if len(owners) < len(ports):
                continue  # not all accepted yet
            held: Counter[int] = Counter()
            replace = []
            for index, local in enumerate(ports):
                held[owners[local]] += 1
                if held[owners[local]] > share:
                    replace.append(index)
            if not replace:
                break
            for index in replace:
                await connections[index].close()
                connection = HttpConnection(host, port)
                ports[index] = await connection.open()
                connections[index] = connection
        counts = Counter(owners.get(local) for local in ports)
        result.note = "connections per worker: " + "/".join(str(n) for _, n in counts.most_common())
        return connections

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
        conn = await asyncpg.connect(self.url)
        try:
            rows = await conn.fetch("select id::text as id, current_price from pets")
        finally:
            await conn.close()
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
                new = _random_price(rng, old)
                status, body = await connection.request(
                    self.requests.graphql(
                        MUTATION, {"input": {"petId": pet_id, "newPrice": str(new)}}
                    )
                )
                error, data = _graphql_data(status, body)
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
                error, data = _graphql_data(status, body)
                return error if error is not None else check(data)

            return op

        result = Result(name, "api", concurrency, self.server_processes, self.duration)
        return self.record(await self._http_load(result, operation_for), keep)

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

    async def events_page(self, concurrency: int) -> Result:
        data = self.requests.graphql(EVENTS_PAGE)

        def check(document: dict[str, Any]) -> str | None:
            edges = document["events"]["edges"]
            return None if len(edges) == 50 else f"events page had {len(edges)} edges"

        return await self._query("API events(first: 50)", concurrency, lambda rng: data, check)

    # ----------------------------------------------------------------------- raw ceilings

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
        if processes <= 1:
            await _raw_load(
                kind,
                self.url,
                self.changeable,
                range(concurrency),
                concurrency,
                result,
                self.args.warmup,
                self.meter,
            )
        else:
            await self._raw_in_processes(kind, concurrency, processes, result)
        return self.record(result)

    async def _raw_in_processes(
        self, kind: str, concurrency: int, processes: int, result: Result
    ) -> None:
        """Splits the connections over client processes started together."""
        context = multiprocessing.get_context("spawn")
        start_at = time.time() + 3.0  # every child has started and connected by then
        children = []
        for p in range(processes):
            receive, send = context.Pipe(duplex=False)
            child = context.Process(
                target=_raw_child,
                args=(
                    kind,
                    self.url,
                    self.changeable,
                    list(range(p, concurrency, processes)),
                    concurrency,
                    start_at,
                    self.args.warmup,
                    self.duration,
                    send,
                ),
                daemon=True,
            )
            child.start()
            send.close()
            children.append((child, receive))
        client_pids = [os.getpid(), *(child.pid for child, _ in children if child.pid)]
        meter = CpuMeter()
        meter.groups = {**self.meter.groups, "client": lambda: _processes(client_pids)}
        window_start = start_at + self.args.warmup
        await asyncio.sleep(max(0.0, window_start - time.time()))
        meter.start()
        await asyncio.sleep(max(0.0, window_start + self.duration - time.time()))
        result.cpu = meter.stop()
        for child, receive in children:
            reply: dict[str, Any] = await asyncio.to_thread(receive.recv)
            child.join(10)
            result.latencies.extend(reply["latencies"])
            for sample in reply["errors"]:
                result.add_error(sample)
            result.errors += max(0, reply["error_count"] - len(reply["errors"]))
            if reply["ready_at"] > start_at:
                result.add_error("a client process was not ready at the common start; rerun")


RAW_NAMES = {
    "insert": "raw INSERT price change (autocommit)",
    "api_txn": "raw API's txn: BEGIN;INSERT…RETURNING;SELECT pet;COMMIT",
    "pets": "raw select * from pets order by id limit 51",
}


async def _raw_load(
    kind: str,
    url: str,
    pet_ids: Sequence[str],
    tasks: Sequence[int],
    total_tasks: int,
    result: Result,
    warmup: float,
    meter: CpuMeter | None,
    start_at: float | None = None,
) -> None:
    """A raw ceiling: each task holds one connection of a pool of 32 and repeats
    its statement on it (task i of total_tasks owns pets i, i + total_tasks, …)."""
    pool = await asyncpg.create_pool(url, min_size=len(tasks), max_size=max(32, len(tasks)))
    try:
        metadata = json.dumps({"actor": TOKEN_NAME, "requestId": uuid.uuid4().hex})
        rng = random.Random(total_tasks)

        async def make_user(index: int) -> User:
            conn = await pool.acquire()
            mine = [uuid.UUID(p) for p in pet_ids[tasks[index] :: total_tasks]]
            position = 0

            def next_pet() -> uuid.UUID:
                nonlocal position
                position += 1
                return mine[position % len(mine)]

            async def insert() -> str | None:
                price = _random_price(rng)
                await conn.execute(
                    RAW_INSERT, new_id(), next_pet(), price, metadata, "PET_PRICE_CHANGE"
                )
                return None

            async def api_txn() -> str | None:
                pet_id, price = next_pet(), _random_price(rng)
                async with conn.transaction():
                    event = await conn.fetchrow(
                        RAW_API_INSERT, new_id(), pet_id, price, metadata, "PET_PRICE_CHANGE"
                    )
                    pet = await conn.fetchrow(RAW_API_SELECT_PET, pet_id)
                return None if event is not None and pet is not None else "no row returned"

            async def pets() -> str | None:
                rows = await conn.fetch(RAW_PETS_PAGE)
                return None if len(rows) == 51 else f"pets page had {len(rows)} rows"

            operation = {"insert": insert, "api_txn": api_txn, "pets": pets}[kind]

            async def release() -> None:
                await pool.release(conn)

            return operation, release

        await run_load(result, make_user, warmup, meter, start_at)
    finally:
        await pool.close()


def _raw_child(
    kind: str,
    url: str,
    pet_ids: list[str],
    tasks: list[int],
    total_tasks: int,
    start_at: float,
    warmup: float,
    duration: float,
    reply: multiprocessing.connection.Connection,
) -> None:
    """One client process of a multi-process raw ceiling."""
    result = Result(kind, "raw", len(tasks), "", duration)
    run_async(_raw_load(kind, url, pet_ids, tasks, total_tasks, result, warmup, None, start_at))
    reply.send(
        {
            "latencies": result.latencies,
            "errors": result.error_samples,
            "error_count": result.errors,
            "ready_at": result.ready_at,
        }
    )
    reply.close()


T = TypeVar("T")


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when it is installed (uvicorn[standard] brings it)."""
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coroutine)


# --------------------------------------------------------------------------- database


@dataclass(frozen=True)
class SeedPlan:
    pets: int
    events: int

    @property
    def births(self) -> int:
        return self.pets // 10

    @property
    def arrivals(self) -> int:
        return self.pets - self.births

    @property
    def sales(self) -> int:
        return self.pets // 20

    @property
    def losses(self) -> int:
        return self.pets // 20

    @property
    def finds(self) -> int:
        return self.losses // 2

    @property
    def price_changes(self) -> int:
        return self.events - self.pets - self.sales - self.losses - self.finds


_PRICE = "round((5 + random() * 995)::numeric, 2)"
_SPECIES = "(array['Cat', 'Dog', 'Rabbit', 'Parrot', 'Hamster', 'Ferret', 'Turtle'])"
# Each statement inserts at most one event per pet: the BEFORE trigger of every
# row locks its pet and reads its version, and the AFTER triggers (the fold) run
# at the end of the statement, so a second event on one pet in the same
# statement would read a stale version.
SEED_ARRIVALS = f"""
insert into pet_arrived_events (pet_id, name, species, price, metadata)
select uuid_generate_v7(), 'Pet ' || g, {_SPECIES}[1 + g % 7], {_PRICE}, '{{"seed": true}}'
from generate_series(1, $1::int) g
"""
SEED_BIRTHS = f"""
insert into pet_born_events (pet_id, name, species, mother_id, price)
select uuid_generate_v7(), 'Kit of ' || m.name, m.species, m.id, {_PRICE}
from (select id, name, species from pets where status = 'AVAILABLE' order by id limit $1) m
"""
SEED_SALES = """
insert into pet_sold_events (pet_id, customer_id, sale_price)
select id, gen_random_uuid(), current_price
from pets where status = 'AVAILABLE' order by md5(id::text) limit $1
"""
SEED_LOSSES = """
insert into pet_lost_events (pet_id, last_seen_location)
select id, 'aisle ' || (1 + abs(hashtext(id::text)) % 12)
from pets where status = 'AVAILABLE' order by md5(id::text) desc limit $1
"""
SEED_FINDS = """
insert into pet_found_events (pet_id, found_location)
select id, 'the parking lot' from pets where status = 'LOST' order by id limit $1
"""
SEED_PRICE_CHANGES = f"""
insert into pet_price_change_events (pet_id, new_price)
select id, {_PRICE} from pets where status <> 'SOLD'
order by md5(id::text || $2::int::text) limit $1
"""


async def seed(url: str, plan: SeedPlan) -> float:
    """Seeds through the real triggers with set-based SQL; returns the seconds taken."""
    if plan.price_changes < 0:
        raise SystemExit(f"--events must be at least {plan.events - plan.price_changes}")
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()

        async def step(label: str, sql: str, *params: object) -> int:
            t0 = time.perf_counter()
            status = await conn.execute(sql, *params)
            rows = int(status.split()[-1])
            elapsed = time.perf_counter() - t0
            say(f"  {label:<32} {rows:>7} events {elapsed:7.2f} s  {rows / elapsed:8.0f} events/s")
            return rows

        await step("arrivals", SEED_ARRIVALS, plan.arrivals)
        await step("births", SEED_BIRTHS, plan.births)
        await step("sales", SEED_SALES, plan.sales)
        await step("losses", SEED_LOSSES, plan.losses)
        await step("found again", SEED_FINDS, plan.finds)
        changeable = plan.pets - plan.sales
        remaining, round_no = plan.price_changes, 0
        t0 = time.perf_counter()
        while remaining > 0:
            round_no += 1
            status = await conn.execute(SEED_PRICE_CHANGES, min(changeable, remaining), round_no)
            remaining -= int(status.split()[-1])
        elapsed = time.perf_counter() - t0
        say(
            f"  {f'price changes ({round_no} rounds)':<32} {plan.price_changes:>7} events "
            f"{elapsed:7.2f} s  {plan.price_changes / elapsed:8.0f} events/s"
        )
        seed_time = time.perf_counter() - started
        t0 = time.perf_counter()
        await conn.execute("vacuum analyze")
        say(f"  vacuum analyze {time.perf_counter() - t0:.2f} s")
        counts = await conn.fetchrow(
            "select (select count(*) from pets) as pets, (select count(*) from events) as events"
        )
        assert counts is not None
        pets, events = counts["pets"], counts["events"]
        say(
            f"  seeded {pets} pets and {events} events in {seed_time:.1f} s "
            f"({events / seed_time:.0f} events/s through the triggers)"
        )
        return seed_time
    finally:
        await conn.close()


async def reachable(url: str) -> str | None:
    """None when a connection succeeds, else why not."""
    try:
        conn = await asyncpg.connect(url, timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def postgres_processes(url: str) -> Callable[[], list[psutil.Process]] | None:
    """The server's processes (postmaster and children) when it runs on this
    machine, found from the pid of one backend."""
    conn = await asyncpg.connect(url)
    try:
        # Looked up while the backend still exists.
        postmaster = psutil.Process(await conn.fetchval("select pg_backend_pid()")).parent()
        if postmaster is None or "postgres" not in postmaster.name():
            return None
    except psutil.Error:
        return None
    finally:
        await conn.close()

    database = url.rsplit("/", 1)[-1].split("?")[0]

    def ours(process: psutil.Process) -> bool:
        # Titles: "postgres: walwriter" (background work of the whole server:
        # counted) or "postgres: user database host(port) state" (a client
        # backend: counted when it serves the bench database, so that other
        # programs' sessions on a shared server land in "other").
        try:
            title = " ".join(process.cmdline())
        except psutil.Error:
            return False
        client_backend = "[local]" in title or re.search(r"\(\d+\)", title) is not None
        return not client_backend or f" {database} " in title

    def processes() -> list[psutil.Process]:
        try:
            return [postmaster, *filter(ours, postmaster.children())]
        except psutil.Error:
            return []

    return processes


async def server_settings(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("show server_version")
        rows = await conn.fetch(
            "select name, setting from pg_settings where name in"
            " ('synchronous_commit', 'fsync', 'shared_buffers', 'max_connections')"
            " order by name"
        )
    finally:
        await conn.close()
    return f"PostgreSQL {version}; " + ", ".join(f"{r['name']}={r['setting']}" for r in rows)


# --------------------------------------------------------------------------- the server


class Server:
    """`graphql-petstore serve` as a subprocess."""

    def __init__(self, url: str, workers: int, pool_size: int | None, token: str) -> None:
        self.url = url
        self.workers = workers
        self.port = _free_port()
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="petstore-bench-server-", suffix=".log", delete=False
        )
        script = Path(sys.executable).parent / "graphql-petstore"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "graphql_petstore"]
        self.command = [
            *command,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        env = {**os.environ, "DATABASE_URL": url, "PETSTORE_API_TOKENS": f"{TOKEN_NAME}:{token}"}
        if pool_size is not None:
            env["PETSTORE_POOL_SIZE"] = str(pool_size)
        self.pool_size = env.get("PETSTORE_POOL_SIZE", "10 (default)")
        self.process = subprocess.Popen(
            self.command,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._root = psutil.Process(self.process.pid)

    def processes(self) -> list[psutil.Process]:
        try:
            return [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return []

    async def wait_ready(self, within: float = 90.0) -> None:
        request = f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"the server exited with {self.process.returncode}:\n{self.tail()}"
                )
            connection = HttpConnection("127.0.0.1", self.port)
            try:
                status, _ = await connection.request(request)
                if status == 200:
                    return
            except OSError:
                pass
            finally:
                await connection.close()
            await asyncio.sleep(0.2)
        raise SystemExit(f"the server was not ready within {within:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                for process in reversed(self.processes()):
                    with contextlib.suppress(psutil.Error):
                        process.kill()
                self.process.wait(5)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


def _exists(path: Path) -> bool:
    return path.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------- profiling


async def profiled(
    py_spy: str, server: Server, seconds: float, output: Path, scenario: Awaitable[Result]
) -> None:
    """Runs a scenario while py-spy samples every server process, then prints
    where the server's busy time went."""
    command = [
        py_spy,
        "record",
        "--pid",
        str(server.process.pid),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        "250",
        "--format",
        "raw",
        "--duration",
        str(math.ceil(seconds)),
        "--output",
        str(output),
    ]
    spy = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    await scenario
    _, stderr = await spy.communicate()
    if spy.returncode != 0 or not _exists(output):
        say(f"  py-spy failed ({spy.returncode}): {stderr.decode(errors='replace')[-500:]}")
        return
    say(summarize_profile(output))


# A sample belongs to the first phase one of whose frames is on its stack;
# the rest go by the package of the innermost frame.
PROFILE_PHASES = (
    ("GraphQL validation", "validate (graphql/validation/validate.py)"),
    ("GraphQL parsing", "parse (graphql/language/parser.py)"),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncConnection.execute (sqlalchemy/"),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncConnection.begin (sqlalchemy/"),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncTransaction."),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncEngine.begin (sqlalchemy/"),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncEngine.connect (sqlalchemy/"),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncConnection.close (sqlalchemy/"),
    ("GraphQL execution (resolvers excluded)", "graphql/execution/"),
)


def summarize_profile(path: Path, top: int = 22) -> str:
    """Where the busy samples of a py-spy raw profile (`frame;frame;… count`
    per line; py-spy leaves idle samples out) went: by phase, by package of the
    innermost frame, by function (self), and inclusive shares."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    by_phase: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [name for f in stack.split(";") if (name := _frame_name(f)) is not None]
        if not frames:
            continue
        total += count
        self_time[frames[-1]] += count
        package = _package(frames[-1])
        by_package[package] += count
        phase = next(
            (label for label, marker in PROFILE_PHASES if any(marker in f for f in frames)),
            f"other: {package}",
        )
        by_phase[phase] += count
        for name in set(frames):
            inclusive[name] += count
    if total == 0:
        return "  (no busy samples)"

    def share(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    out = [f"  {total} busy samples of the server ({path}); phases:"]
    out += [f"    {share(n)}  {name}" for name, n in by_phase.most_common(12)]
    out.append("  self time by package of the innermost frame:")
    out += [f"    {share(n)}  {name}" for name, n in by_package.most_common(10)]
    out.append("  self time by function:")
    out += [f"    {share(n)}  {name}" for name, n in self_time.most_common(top)]
    out.append("  inclusive time (below the request wrappers, 2% or more):")
    out += [
        f"    {share(n)}  {name}"
        for name, n in inclusive.most_common()
        if 0.02 * total <= n <= 0.75 * total
    ][: top + 8]
    return "\n".join(out)


def _frame_name(frame: str) -> str | None:
    """'func (path/to/file.py:12)' -> 'func (to/file.py)'; process and thread
    markers are dropped."""
    frame = frame.strip()
    if frame.startswith(("process ", "thread ")) or not frame:
        return None
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def _package(frame: str) -> str:
    path = frame.rpartition(" (")[2].rstrip(")")
    if path.startswith("."):  # stdlib: lib/python3.11/asyncio/… -> .11/asyncio/…
        path = path.split("/", 1)[1] if "/" in path else path
        return "stdlib " + path.split("/")[0].removesuffix(".py")
    head = path.split("/")[0]
    if head == "<string>":
        return "generated code (<string>)"
    return head.removesuffix(".py") or path


# --------------------------------------------------------------------------- report


HEADER = (
    f"{'scenario':<54} {'conc':>4} {'procs':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
    f"{'errors':>6}  {'client':>6} {'server':>6} {'pg':>6} {'other':>6} {'idle':>5}"
)


def format_row(r: Result) -> str:
    def cpu(name: str) -> str:
        value = r.cpu.get(name)
        return "-" if value is None or math.isnan(value) else f"{value:.0f}%"

    return (
        f"{r.name:<54} {r.concurrency:>4} {r.processes:>6} {r.rate:>9.1f} "
        f"{r.percentile(0.5):>8.2f} {r.percentile(0.99):>8.2f} {r.errors:>6}  "
        f"{cpu('client'):>6} {cpu('server'):>6} {cpu('pg'):>6} {cpu('other'):>6} {cpu('idle'):>5}"
    )


def find(results: Sequence[Result], name_start: str, concurrency: int) -> Result | None:
    for result in results:
        if result.name.startswith(name_start) and result.concurrency == concurrency:
            return result
    return None


def ratio_line(label: str, api: Result | None, raw: Result | None, target: float) -> str:
    if api is None or raw is None or raw.rate == 0:
        return f"{label}: n/a"
    value = api.rate / raw.rate
    verdict = "meets" if value >= target else "BELOW"
    return (
        f"{label}: {api.rate:.1f} / {raw.rate:.1f} = {value:.3f}  (target >= {target}: {verdict})"
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the GraphQL API end to end against raw SQL ceilings."
    )
    parser.add_argument(
        "--server-url",
        default=os.environ.get("PETSTORE_BENCH_SERVER_URL", DEFAULT_SERVER_URL),
        help="an admin URL of the PostgreSQL server to create the bench database on "
        f"(default {DEFAULT_SERVER_URL}); when unreachable, an embedded PostgreSQL "
        "runs with its data in a temporary directory under /tmp",
    )
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before each window")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument(
        "--pool-size", type=int, default=None, help="PETSTORE_POOL_SIZE for the server"
    )
    parser.add_argument("--pets", type=int, default=10_000, help="pets to seed")
    parser.add_argument("--events", type=int, default=100_000, help="events to seed")
    parser.add_argument(
        "--mutation-concurrency", default="1,8,32", help="changePetPrice concurrencies"
    )
    parser.add_argument(
        "--read-concurrency", type=int, default=8, help="concurrency of the query scenarios"
    )
    parser.add_argument(
        "--raw-processes",
        type=int,
        default=None,
        help="client processes of the raw pets-page ceiling (default: as many as the "
        "server has workers, so that both sides have the same number of processes)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="afterwards, rerun changePetPrice and the pets page under py-spy "
        "(needs py-spy) and print the server's hot spots; raw profiles go to DIR",
    )
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    args = parser.parse_args(argv)
    if args.raw_processes is None:
        args.raw_processes = args.workers
    return args


async def amain(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    mutation_levels = [int(c) for c in args.mutation_concurrency.split(",") if c.strip()]
    busy = psutil.cpu_percent(interval=1.0)  # % of the whole machine
    say(
        f"machine: {CORES} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"busy before the run: {busy * CORES:.0f}% of one core"
        + ("  (WARNING: other load disturbs the figures)" if busy * CORES > 20 else "")
    )
    async with contextlib.AsyncExitStack() as stack:
        admin_url = args.server_url
        problem = await reachable(admin_url)
        if problem is None:
            where = f"server at {admin_url}"
        else:
            from graphql_petstore.database.embedded import EmbeddedPostgres

            data_dir = Path(tempfile.mkdtemp(prefix="petstore-bench-pg-", dir="/tmp"))
            stack.callback(shutil.rmtree, data_dir, True)
            say(f"{admin_url} is unreachable ({problem}); starting an embedded PostgreSQL")
            embedded = EmbeddedPostgres(data_dir)
            admin_url = embedded.start()
            stack.callback(embedded.stop)
            where = f"embedded server in {data_dir}"
        say(f"postgres: {where}: {await server_settings(admin_url)}")

        name = f"petstore_bench_{os.getpid()}"
        url = with_database(admin_url, name)
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'create database "{name}"')
        finally:
            await admin.close()
        if not args.keep_database:
            stack.push_async_callback(_drop_database, admin_url, name)
        say(f"database: {name}")
        t0 = time.perf_counter()
        await migrate(url)
        say(
            f"migrated in {time.perf_counter() - t0:.2f} s; seeding {args.pets} pets, "
            f"{args.events} events through the triggers:"
        )
        seed_time = await seed(url, SeedPlan(args.pets, args.events))

        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("select id::text as id, status from pets order by id")
        finally:
            await conn.close()
        pet_ids = [row["id"] for row in rows]
        changeable = [row["id"] for row in rows if row["status"] != "SOLD"]
        random.Random(7).shuffle(changeable)

        token = uuid.uuid4().hex
        t0 = time.perf_counter()
        server = Server(url, args.workers, args.pool_size, token)
        stack.callback(server.stop)
        await server.wait_ready()
        processes = server.processes()
        say(
            f"server: {shlex.join(server.command)}  (ready in {time.perf_counter() - t0:.1f} s; "
            f"{len(processes)} process(es) in its tree, {args.workers} worker(s); "
            f"pool size per worker {server.pool_size})"
        )

        meter = CpuMeter()
        meter.add("client", lambda: _processes([os.getpid()]))
        meter.add("server", server.processes)
        pg = await postgres_processes(url)
        if pg is not None:
            meter.add("pg", pg)
        bench = Bench(
            args,
            url,
            Requests("127.0.0.1", server.port, token),
            meter,
            f"srv={args.workers}",
            pet_ids,
            changeable,
            worker_processes=server.processes,
        )
        say(
            f"\neach scenario: {args.warmup:g} s warm-up + {args.duration:g} s measured; "
            "cpu columns: % of one core used by the client (load generator or raw client "
            "processes), the server's processes, PostgreSQL's, and anything else on the "
            "machine (other: should be near 0); idle: % of the whole machine"
        )
        say(HEADER)
        await bench.healthz(args.read_concurrency)
        for concurrency in mutation_levels:
            await bench.change_price(concurrency)
        await bench.pets_page(args.read_concurrency)
        await bench.pet_with_history(args.read_concurrency)
        await bench.events_page(args.read_concurrency)
        if args.profile is not None:
            await run_profiles(args, bench, server, max(mutation_levels))
        # The raw ceilings run with the server stopped: an idle server still
        # follows every event (its LISTEN doorbell and stream tail), which would
        # take CPU from PostgreSQL on a small machine. This row shows that cost.
        await bench.raw(
            "insert",
            max(mutation_levels),
            name="(ref) raw INSERT, server up and idle (doorbell+tail)",
        )
        server.stop()
        for concurrency in mutation_levels:
            await bench.raw("insert", concurrency)
        await bench.raw("api_txn", max(mutation_levels))
        await bench.raw("pets", args.read_concurrency, args.raw_processes)

        results = bench.results
        top = max(mutation_levels)
        say("\n" + "=" * len(HEADER))
        say(HEADER)
        for result in results:
            say(format_row(result))
        say("=" * len(HEADER))
        say(
            ratio_line(
                f"API/raw changePetPrice at concurrency {top}",
                find(results, "API changePetPrice", top),
                find(results, "raw INSERT", top),
                0.25,
            )
        )
        say(
            ratio_line(
                f"API/raw pets page at concurrency {args.read_concurrency}",
                find(results, "API pets", args.read_concurrency),
                find(results, "raw select", args.read_concurrency),
                0.06,
            )
        )
        api_top = find(results, "API changePetPrice", top)
        txn = find(results, "raw API's txn", top)
        if api_top and txn and txn.rate:
            say(
                f"(for reference) API changePetPrice / raw API's txn at {top}: "
                f"{api_top.rate / txn.rate:.3f}"
            )
        gen = results[0]
        client_cpu = gen.cpu.get("client", math.nan)
        capacity = gen.rate / (client_cpu / 100) if client_cpu and client_cpu > 0 else math.nan
        api_max = max((r.rate for r in results if r.kind == "api"), default=0.0)
        say(
            f"load generator: {gen.rate:.0f} req/s on /healthz using {client_cpu:.0f}% of a core "
            f"(~{capacity:.0f} req/s per core); fastest API scenario {api_max:.0f} req/s"
        )
        say(
            f"processes: server {args.workers} worker(s) (uvicorn --workers {args.workers}); "
            f"raw ceilings run with the server stopped; raw INSERT ceilings: 1 client "
            f"process, one pooled connection per task; "
            f"raw pets page: {args.raw_processes} client processes sharing "
            f"{args.read_concurrency} connections"
        )
        say(f"seed: {seed_time:.1f} s for {args.events} events;  postgres: {where}")
        say(f"command: {shlex.join(sys.orig_argv)}")
        errors = sum(r.errors for r in results)
        disturbed = [r.name for r in results if r.cpu.get("other", 0.0) > 25.0]
        if disturbed:
            say(
                f"WARNING: other programs used over 25% of a core during {len(disturbed)} "
                "scenario(s): the figures are disturbed; rerun on a quiet machine"
            )
        say(
            f"total time {time.perf_counter() - began:.0f} s; errors: {errors}"
            + ("" if errors == 0 else "  (INVALID RUN)")
        )
    return 0 if errors == 0 else 1


async def run_profiles(
    args: argparse.Namespace, bench: Bench, server: Server, concurrency: int
) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not _exists(Path(py_spy)):
        say("\n--profile: py-spy is not installed (pip install py-spy); skipped")
        return
    args.profile.mkdir(parents=True, exist_ok=True)
    seconds = args.warmup + args.duration
    say(f"\nprofiles (py-spy, {seconds:g} s each; these runs are not in the table):")
    say(HEADER)
    await profiled(
        py_spy,
        server,
        seconds,
        args.profile / "change_pet_price.txt",
        bench.change_price(concurrency, " (under py-spy)", keep=False),
    )
    say(HEADER)
    await profiled(
        py_spy,
        server,
        seconds,
        args.profile / "pets_page.txt",
        bench.pets_page(args.read_concurrency, " (under py-spy)", keep=False),
    )


async def _drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()
    say(f"dropped database {name}")


def main(argv: Sequence[str] | None = None) -> int:
    return run_async(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
