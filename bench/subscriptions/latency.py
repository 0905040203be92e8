"""Part 2: commit-to-receipt latency of subscriptions at S subscribers, against
the real server: all on `events` (kind "events"), or each on
`petChanged(id:)` of a pet of its own (kind "pets")."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import multiprocessing.connection
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from graphql_petstore.database.ids import new_id
from harness.cpu import CpuMeter, Processes, processes, rss_mib
from harness.database import connected
from harness.raw import RAW_INSERT
from harness.report import cpu_cell, say
from harness.results import percentile_ms
from harness.seeding import random_price
from harness.server import TOKEN_NAME, Server
from harness.subscribers import ClientPlan, client_child

PRIME_CHUNK = 200
STILL = 0.5  # seconds without a message: a pets run has drained


@dataclass
class LatencyRun:
    subscribers: int
    layout: str
    kind: str = "events"
    workers: int = 1
    rate: float = 0.0
    # RSS of the server tree with every subscription open and primed, before writes.
    connected_rss_mib: float = math.nan
    expected: int = 0
    received: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds
    events: int = 0
    write_seconds: float = 0.0
    drain_seconds: float = 0.0
    rss_mib: float = math.nan
    cpu: dict[str, float] = field(default_factory=dict)
    connect_seconds: float = 0.0

    def percentile(self, q: float) -> float:
        return percentile_ms(self.latencies, q)

    @property
    def lost(self) -> int:
        return self.expected - self.received


async def latency_run(
    args: argparse.Namespace,
    url: str,
    server: Server,
    pets: list[str],
    subscribers: int,
    meter_groups: dict[str, Processes],
    kind: str = "events",
    rate: float | None = None,
) -> LatencyRun:
    rate = args.rate if rate is None else rate
    per_connection = min(subscribers, args.subs_per_connection)
    if subscribers % per_connection:
        raise SystemExit(f"S={subscribers} is not a multiple of {per_connection}")
    connections = subscribers // per_connection
    n_procs = max(1, min(args.client_processes, connections))
    if kind == "pets" and subscribers > len(pets):
        raise SystemExit(f"{subscribers} petChanged subscribers need as many pets (--pets)")
    followed = pets[:subscribers] if kind == "pets" else pets
    run = LatencyRun(
        subscribers,
        f"{connections} ws x {per_connection} subs, {n_procs} client proc(s)",
        kind,
        server.workers,
        rate,
    )
    context = multiprocessing.get_context("spawn")
    children: list[tuple[Any, multiprocessing.connection.Connection]] = []
    t0 = time.perf_counter()
    first = 0
    for i in range(n_procs):
        share = connections // n_procs + (1 if i < connections % n_procs else 0)
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=client_child,
            args=(
                ClientPlan(
                    server.port,
                    share,
                    per_connection,
                    first,
                    kind=kind,
                    pets=tuple(followed) if kind == "pets" else (),
                ),
                child_end,
            ),
            daemon=True,
        )
        process.start()
        child_end.close()
        children.append((process, parent_end))
        first += share

    loop = asyncio.get_running_loop()

    async def receive(pipe: multiprocessing.connection.Connection, within: float) -> Any:
        deadline = time.monotonic() + within
        while not pipe.poll():
            if time.monotonic() > deadline:
                raise SystemExit("a client process did not answer")
            await asyncio.sleep(0.01)
        return pipe.recv()

    async def status(last: str | None) -> tuple[int, int, int, int]:
        for _, pipe in children:
            pipe.send(("status", last))
        totals = [0, 0, 0, 0]
        for _, pipe in children:
            _, values = await receive(pipe, 30)
            totals = [a + b for a, b in zip(totals, values, strict=True)]
        return totals[0], totals[1], totals[2], totals[3]

    try:
        for _, pipe in children:
            answer, value = await receive(pipe, 120)
            if answer != "ready":
                raise SystemExit(f"client process failed: {value}")
        run.connect_seconds = time.perf_counter() - t0

        async with connected(url) as conn:
            rng = random.Random(subscribers)
            metadata = json.dumps({"actor": TOKEN_NAME, "bench": "subscriptions"})

            async def insert() -> tuple[str, float]:
                event_id = new_id()
                price = random_price(rng)
                await conn.execute(
                    RAW_INSERT,
                    event_id,
                    uuid.UUID(rng.choice(followed)),
                    price,
                    metadata,
                    "PET_PRICE_CHANGE",
                )
                return str(event_id), time.perf_counter()

            # Prime: every subscription has seen an event before the measured ones.
            deadline = time.monotonic() + 120
            while True:
                if kind == "pets":
                    # One event on each followed pet, PRIME_CHUNK pets per statement:
                    # each first event reads its pet (pet_after), and thousands at
                    # once would wait on the server's pool past its timeout.
                    for chunk in range(0, len(followed), PRIME_CHUNK):
                        await conn.execute(
                            "insert into pet_price_change_events (pet_id, new_price)"
                            " select unnest($1::uuid[]), 20",
                            [uuid.UUID(p) for p in followed[chunk : chunk + PRIME_CHUNK]],
                        )
                        await asyncio.sleep(0.25)
                    await asyncio.sleep(1.0)
                else:
                    await insert()
                    await asyncio.sleep(0.1)
                primed, _, _, errors = await status(None)
                if primed >= subscribers or errors:
                    break
                if time.monotonic() > deadline:
                    # Measured all the same: the table shows what it got.
                    run.errors.append(f"only {primed} of {subscribers} subscriptions primed")
                    break
            await asyncio.sleep(0.3)
            _, _, primed_records, _ = await status(None)
            run.connected_rss_mib = rss_mib(server.processes)

            client_pids = [p.pid for p, _ in children if p.pid is not None]
            meter = CpuMeter({**meter_groups, "client": lambda: processes(client_pids)})
            commits: dict[str, float] = {}
            count = round(rate * args.write_seconds)
            meter.start()
            start = time.perf_counter()
            last = ""
            for i in range(count):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                last, committed = await insert()
                commits[last] = committed
            written = time.perf_counter()
            run.write_seconds = written - start
            deadline = time.monotonic() + args.drain_timeout
            seen_records, grew_at = -1, time.perf_counter()
            while True:
                _, done, records, _ = await status(last)
                now = time.perf_counter()
                if records != seen_records:
                    seen_records, grew_at = records, now
                if kind == "pets":
                    # Each event reaches the one subscriber of its pet. A priming
                    # message that came late counts too: done once the count is
                    # reached and nothing more has come for STILL seconds.
                    reached = records - primed_records >= count and now - grew_at >= STILL
                    done = subscribers if reached else 0
                if done >= subscribers or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            run.drain_seconds = (grew_at if kind == "pets" else time.perf_counter()) - written
            run.drain_seconds = max(run.drain_seconds, 0.0)
            run.cpu = meter.stop()
            run.rss_mib = rss_mib(server.processes)

        run.events = len(commits)
        run.expected = len(commits) if kind == "pets" else subscribers * len(commits)
        for _, pipe in children:
            pipe.send(("collect", None))
        for _, pipe in children:
            _, (records, errors, duplicates) = await receive(pipe, 60)
            run.errors.extend(errors)
            run.duplicates += duplicates
            for _, event_id, received_at in records:
                commit_time = commits.get(event_id)
                if commit_time is not None:
                    run.received += 1
                    run.latencies.append(received_at - commit_time)
    finally:
        for process, pipe in children:
            await loop.run_in_executor(None, process.join, 10)
            if process.is_alive():
                process.kill()
            pipe.close()
    return run


def say_latency_table(runs: list[LatencyRun], idle_rss: float, rate: float) -> None:
    say(
        f"{'latency commit->receipt':<16} {'layout':<38} {'received/expected':>18} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'drain s':>7} {'RSS MiB':>8} "
        f"{'server':>6} {'client':>6} {'pg':>5} {'other':>5}"
    )
    say(f"{'idle (S=0)':<16} {'':<38} {'':>18} {'':>8} {'':>8} {'':>8} {'':>7} {idle_rss:>8.1f}")
    for run in runs:
        say(
            f"{f'S={run.subscribers}':<16} {run.layout:<38} "
            f"{f'{run.received}/{run.expected}':>18} {run.percentile(0.5):>8.1f} "
            f"{run.percentile(0.99):>8.1f} {run.percentile(1.0):>8.1f} "
            f"{run.drain_seconds:>7.2f} {run.rss_mib:>8.1f} {cpu_cell(run.cpu, 'server'):>6} "
            f"{cpu_cell(run.cpu, 'client'):>6} {cpu_cell(run.cpu, 'pg'):>5} "
            f"{cpu_cell(run.cpu, 'other'):>5}"
        )
    say(
        "cpu: % of one core over the write+drain window (server tree, WebSocket client "
        "processes, PostgreSQL, anything else); RSS: server process tree"
    )
    if runs:
        big = runs[-1]
        delivered = big.received / (big.write_seconds + big.drain_seconds or 1)
        say(
            f"interpretation: at S={big.subscribers} the server delivered "
            f"{delivered:.0f} messages/s ({big.subscribers} x {rate:g} events/s "
            f"offered) with p99 {big.percentile(0.99):.0f} ms; the clients used "
            f"{cpu_cell(big.cpu, 'client')} of a core, the server "
            f"{cpu_cell(big.cpu, 'server')}"
            + (
                " -> the server (one worker, one core) is the bottleneck"
                if big.cpu.get("server", 0) > 80
                else ""
            )
        )


def say_case_table(runs: list[LatencyRun], idle_rss: dict[int, float]) -> None:
    """The cases of --cases: each on a fresh server; `idle_rss` by workers."""
    say(
        f"{'case':<34} {'layout':<38} {'received/expected':>18} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'drain s':>7} {'RSS MiB':>8} {'KiB/sub':>8} "
        f"{'msg/s':>7} {'us/msg':>6} {'server':>6} {'client':>6} {'pg':>5} {'other':>5}"
    )
    for run in runs:
        field_name = "petChanged(id:) own pet" if run.kind == "pets" else "events"
        case = f"{run.subscribers} {field_name}, w{run.workers}, {run.rate:g}/s"
        per_sub = (run.connected_rss_mib - idle_rss.get(run.workers, math.nan)) * 1024
        per_sub /= run.subscribers
        seconds = run.write_seconds + run.drain_seconds
        rate = run.received / seconds if seconds else math.nan
        # Server CPU per message received: what one core could push, unshared.
        cost = (
            run.cpu.get("server", math.nan) / 100 * seconds / run.received * 1e6
            if run.received
            else math.nan
        )
        say(
            f"{case:<34} {run.layout:<38} {f'{run.received}/{run.expected}':>18} "
            f"{run.percentile(0.5):>8.1f} {run.percentile(0.99):>8.1f} "
            f"{run.percentile(1.0):>8.1f} {run.drain_seconds:>7.2f} {run.rss_mib:>8.1f} "
            f"{per_sub:>8.1f} {rate:>7.0f} {cost:>6.1f} {cpu_cell(run.cpu, 'server'):>6} "
            f"{cpu_cell(run.cpu, 'client'):>6} {cpu_cell(run.cpu, 'pg'):>5} "
            f"{cpu_cell(run.cpu, 'other'):>5}"
        )
    say(
        "KiB/sub: (server RSS with every subscription open and primed - idle RSS of a fresh "
        "server with as many workers) / subscribers; msg/s: messages received / (write + "
        "drain seconds); us/msg: server CPU microseconds per message received (1e6/us/msg: "
        "the messages/s one core could push); cpu: % of one core over the write+drain window"
    )
