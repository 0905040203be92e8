"""WebSocket subscribers in client processes of their own (graphql-transport-ws):
each process opens `connections` WebSockets of `subs_per_connection`
subscriptions — all on `events` (kind "events", or the plan's own query), or
each on `petChanged(id:)` of a pet of its own (kind "pets") — records when each
message arrives (time.perf_counter, which is CLOCK_MONOTONIC and so comparable
between processes), and answers the parent's status and collect commands over
a pipe. `Subscribers` starts and drives a group of them (subscription_bench's
latency runs, soak.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import time
from dataclasses import dataclass, field
from typing import Any

from harness.load import run_async

SUBSCRIPTION = "subscription Events { events { id } }"
PET_SUBSCRIPTION = "subscription Pet($id: UUID) { petChanged(id: $id) { event { id } } }"


@dataclass(frozen=True)
class ClientPlan:
    """What one client process opens: `connections` WebSockets x
    `subs_per_connection` subscriptions, numbered from `first_connection`
    (subscription ids are unique over all client processes)."""

    port: int
    connections: int
    subs_per_connection: int
    first_connection: int
    # Its `events` field is read from each message: `events { id }` at least.
    query: str = SUBSCRIPTION
    variables: dict[str, Any] = field(default_factory=dict)
    kind: str = "events"
    # kind "pets": subscription number n follows pets[n].
    pets: tuple[str, ...] = ()


def client_child(plan: ClientPlan, pipe: multiprocessing.connection.Connection) -> None:
    run_async(_client(plan, pipe))


async def _client(plan: ClientPlan, pipe: multiprocessing.connection.Connection) -> None:
    """Opens the plan's subscriptions; answers the parent's status and collect
    commands."""
    port, connections = plan.port, plan.connections
    subs_per_connection, first_connection = plan.subs_per_connection, plan.first_connection
    import websockets
    from websockets.typing import Subprotocol

    records: list[tuple[int, str, float]] = []  # (subscription, event id, receipt time)
    seen: dict[int, set[str]] = {}
    errors: list[str] = []
    duplicates = 0
    last_id: str | None = None
    done: set[int] = set()
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []
    perf = time.perf_counter
    pets = plan.kind == "pets"

    async def open_one(index: int) -> None:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/graphql",
            subprotocols=[Subprotocol("graphql-transport-ws")],
            compression=None,
            max_queue=None,
            open_timeout=60,
            ping_interval=None,
        )
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"no connection_ack: {ack}")
        base = (first_connection + index) * subs_per_connection
        for j in range(subs_per_connection):
            seen[base + j] = set()
            if plan.kind == "pets":
                payload = {"query": PET_SUBSCRIPTION, "variables": {"id": plan.pets[base + j]}}
            else:
                payload = {"query": plan.query, "variables": plan.variables}
            await ws.send(
                json.dumps({"id": str(base + j), "type": "subscribe", "payload": payload})
            )
        sockets.append(ws)
        readers.append(asyncio.create_task(read(ws)))

    async def read(ws: Any) -> None:
        nonlocal duplicates
        try:
            async for raw in ws:
                t = perf()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next":
                    sub = int(message["id"])
                    payload = message["payload"]
                    if payload.get("errors"):
                        errors.append(json.dumps(payload["errors"])[:300])
                        continue
                    data = payload["data"]
                    event_id = data["petChanged"]["event"]["id"] if pets else data["events"]["id"]
                    ids = seen[sub]
                    if event_id in ids:
                        duplicates += 1
                        continue
                    ids.add(event_id)
                    records.append((sub, event_id, t))
                    if event_id == last_id:
                        done.add(sub)
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind in ("error", "complete"):
                    errors.append(f"{kind}: {raw[:300]!r}")
        except Exception as exc:  # a closed connection is an error before collect
            errors.append(f"{type(exc).__name__}: {exc}")

    semaphore = asyncio.Semaphore(50)

    async def guarded(index: int) -> None:
        async with semaphore:
            await open_one(index)

    try:
        await asyncio.gather(*(guarded(i) for i in range(connections)))
    except Exception as exc:
        pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    pipe.send(("ready", connections * subs_per_connection))
    while True:
        if not pipe.poll():
            await asyncio.sleep(0.02)
            continue
        command, value = pipe.recv()
        if command == "status":
            if value != last_id:
                last_id = value
                done.clear()
                done.update(s for s, ids in seen.items() if value in ids)
            primed = sum(1 for ids in seen.values() if ids)
            pipe.send(("status", (primed, len(done), len(records), len(errors))))
        elif command == "collect":
            for task in readers:
                task.cancel()
            for ws in sockets:
                with contextlib.suppress(Exception):
                    await ws.close()
            pipe.send(("data", (records, errors, duplicates)))
            return


Records = list[tuple[int, str, float]]  # (subscription, event id, receipt time)


@dataclass
class Collected:
    records: Records = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    duplicates: int = 0


class Subscribers:
    """`subscribers` subscriptions over `subscribers / subs_per_connection`
    WebSockets, spread over `processes` client processes (spawned)."""

    def __init__(
        self,
        port: int,
        subscribers: int,
        subs_per_connection: int,
        processes: int,
        query: str = SUBSCRIPTION,
        variables: dict[str, Any] | None = None,
    ) -> None:
        per_connection = min(subscribers, subs_per_connection)
        if subscribers % per_connection:
            raise SystemExit(f"{subscribers} subscribers is not a multiple of {per_connection}")
        self.subscribers = subscribers
        connections = subscribers // per_connection
        count = max(1, min(processes, connections))
        self.layout = f"{connections} ws x {per_connection} subs, {count} client proc(s)"
        context = multiprocessing.get_context("spawn")
        self.children: list[tuple[Any, multiprocessing.connection.Connection]] = []
        first = 0
        for i in range(count):
            share = connections // count + (1 if i < connections % count else 0)
            parent_end, child_end = context.Pipe()
            plan = ClientPlan(port, share, per_connection, first, query, variables or {})
            process = context.Process(target=client_child, args=(plan, child_end), daemon=True)
            process.start()
            child_end.close()
            self.children.append((process, parent_end))
            first += share

    @property
    def pids(self) -> list[int]:
        return [process.pid for process, _ in self.children if process.pid is not None]

    async def _receive(self, pipe: multiprocessing.connection.Connection, within: float) -> Any:
        deadline = time.monotonic() + within
        while not pipe.poll():
            if time.monotonic() > deadline:
                raise SystemExit("a client process did not answer")
            await asyncio.sleep(0.01)
        return pipe.recv()

    async def ready(self, within: float = 120.0) -> None:
        """Returns once every subscribe message is sent."""
        for _, pipe in self.children:
            kind, value = await self._receive(pipe, within)
            if kind != "ready":
                raise SystemExit(f"client process failed: {value}")

    async def status(self, last: str | None = None) -> tuple[int, int, int, int]:
        """(subscriptions that received anything, subscriptions that received
        `last`, messages recorded, errors), summed over the processes."""
        for _, pipe in self.children:
            pipe.send(("status", last))
        totals = [0, 0, 0, 0]
        for _, pipe in self.children:
            _, values = await self._receive(pipe, 30)
            totals = [a + b for a, b in zip(totals, values, strict=True)]
        return totals[0], totals[1], totals[2], totals[3]

    async def collect(self) -> Collected:
        """Every process's records; the processes close their sockets and end."""
        collected = Collected()
        for _, pipe in self.children:
            pipe.send(("collect", None))
        for _, pipe in self.children:
            _, (records, errors, duplicates) = await self._receive(pipe, 120)
            collected.records.extend(records)
            collected.errors.extend(errors)
            collected.duplicates += duplicates
        return collected

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        for process, pipe in self.children:
            await loop.run_in_executor(None, process.join, 10)
            if process.is_alive():
                process.kill()
            pipe.close()
