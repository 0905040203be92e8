"""One WebSocket client process of the latency runs: `connections` WebSockets
of `subs_per_connection` subscriptions each (graphql-transport-ws): all on
`events` (kind "events"), or each on `petChanged(id:)` of a pet of its own
(kind "pets"); it records when each message arrives, and answers the
parent's status and collect commands over a pipe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing.connection
import time
from dataclasses import dataclass
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
                payload = {"query": SUBSCRIPTION}
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
