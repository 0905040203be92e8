"""Raw SQL ceilings through asyncpg: what the database alone does for the
statements behind an API scenario, measured like the API (virtual users,
warm-up, window)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from graphql_petstore.database.ids import new_id
from harness.cpu import CpuMeter, processes
from harness.load import User, run_async, run_load
from harness.results import Result
from harness.seeding import random_price
from harness.server import TOKEN_NAME

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

# The kinds of raw ceiling, by the name of their row.
RAW_NAMES = {
    "insert": "raw INSERT price change (autocommit)",
    "api_txn": "raw API's txn: BEGIN;INSERT…RETURNING;SELECT pet;COMMIT",
    "pets": "raw select * from pets order by id limit 51",
}


async def raw_load(
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
                price = random_price(rng)
                await conn.execute(
                    RAW_INSERT, new_id(), next_pet(), price, metadata, "PET_PRICE_CHANGE"
                )
                return None

            async def api_txn() -> str | None:
                pet_id, price = next_pet(), random_price(rng)
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


async def raw_ceiling(
    kind: str,
    url: str,
    pet_ids: Sequence[str],
    client_processes: int,
    result: Result,
    warmup: float,
    meter: CpuMeter,
) -> Result:
    """`result.concurrency` connections repeating the statement of `kind`, in
    this process or split over `client_processes` processes started together
    (so that one client process is not the limit)."""
    concurrency = result.concurrency
    if client_processes <= 1:
        await raw_load(kind, url, pet_ids, range(concurrency), concurrency, result, warmup, meter)
        return result
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # every child has started and connected by then
    children = []
    for p in range(client_processes):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=_raw_child,
            args=(
                kind,
                url,
                list(pet_ids),
                list(range(p, concurrency, client_processes)),
                concurrency,
                start_at,
                warmup,
                result.duration,
                send,
            ),
            daemon=True,
        )
        child.start()
        send.close()
        children.append((child, receive))
    client_pids = [os.getpid(), *(child.pid for child, _ in children if child.pid)]
    meter = CpuMeter({**meter.groups, "client": lambda: processes(client_pids)})
    window_start = start_at + warmup
    await asyncio.sleep(max(0.0, window_start - time.time()))
    meter.start()
    await asyncio.sleep(max(0.0, window_start + result.duration - time.time()))
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
    return result


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
    run_async(raw_load(kind, url, pet_ids, tasks, total_tasks, result, warmup, None, start_at))
    reply.send(
        {
            "latencies": result.latencies,
            "errors": result.error_samples,
            "error_count": result.errors,
            "ready_at": result.ready_at,
        }
    )
    reply.close()
