"""Memory per idle subscription, measured two ways against the real server:
RSS of the server process, and what Python holds (tracemalloc, which does
not move with the allocator's fragmentation or other programs), with the
allocation sites that grew most.

    .venv/bin/python bench/subscription_memory_bench.py [--kind pets|events] \
        [--subscribers 4000] [--server-src /tmp/before/src]

It seeds a fresh database, starts `graphql-petstore serve --workers 1` under
bench/subscriptions/traced_server.py (tracemalloc on), takes the idle figures,
opens S subscriptions from client processes (kind "pets": each on
`petChanged(id:)` of a pet of its own, one group per pet; "events": all on
`events`, one group), primes each with one event, and takes the figures again.
With --server-src it measures that checkout's src/ first, then this one, in
the same run on the same database. About a minute per server at S=4000.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from graphql_petstore.database.migrations import migrate
from harness.cli import add_keep_database, add_server_url
from harness.cpu import rss_mib
from harness.database import connected, create_database, pet_ids, postgres_server
from harness.load import run_async
from harness.report import command_line, say, say_machine
from harness.seeding import SeedPlan, seed
from harness.server import Server
from harness.subscribers import ClientPlan, client_child

TRACED = Path(__file__).parent / "subscriptions" / "traced_server.py"
PRIME_CHUNK = 25


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_url(parser)
    parser.add_argument("--kind", choices=("pets", "events"), default="pets")
    parser.add_argument("--subscribers", type=int, default=4000)
    parser.add_argument("--subs-per-connection", type=int, default=20)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--server-src", default="", help="also measure this src/ (first)")
    parser.add_argument("--top", type=int, default=12, help="allocation sites to show")
    add_keep_database(parser)
    return parser.parse_args(argv)


async def amain(args: argparse.Namespace) -> int:
    say_machine()
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        url = await create_database(
            stack, admin_url, f"petstore_bench_{os.getpid()}", args.keep_database
        )
        await migrate(url)
        pets_seeded = args.subscribers * 7 // 5 + 100  # some are sold: not changeable
        await seed(url, SeedPlan(pets_seeded, pets_seeded * 2))
        _, pets = await pet_ids(url)
        rows = []
        for src in [args.server_src, ""] if args.server_src else [""]:
            rows.append(await measure(args, url, pets, src))
        say(f"\nmemory per idle subscription, {args.subscribers} x {args.kind}:")
        say(f"{'server code':<40} {'traced KiB/sub':>15} {'RSS KiB/sub':>12} {'RSS idle MiB':>13}")
        for src, traced, rss, idle in rows:
            say(f"{src or 'this checkout':<40} {traced:>15.2f} {rss:>12.2f} {idle:>13.1f}")
        say(f"command: {command_line()}")
    return 0


async def measure(
    args: argparse.Namespace, url: str, pets: list[str], src: str
) -> tuple[str, float, float, float]:
    out = Path(tempfile.mkdtemp(prefix="petstore-tracemalloc-")) / "report.json"
    environment = {"PETSTORE_TRACEMALLOC_OUT": str(out)}
    if src:
        environment["PYTHONPATH"] = src
    server = Server(url, 1, None, uuid.uuid4().hex, environment, [sys.executable, str(TRACED)])
    children: list[tuple[Any, Any]] = []
    try:
        await server.wait_ready()
        await asyncio.sleep(1.0)
        idle = await report(server, out)
        idle_rss = rss_mib(server.processes)
        n = args.subscribers
        followed = pets[:n]
        connections = n // args.subs_per_connection
        count = max(1, min(args.client_processes, connections))
        context = multiprocessing.get_context("spawn")
        first = 0
        for i in range(count):
            share = connections // count + (1 if i < connections % count else 0)
            parent_end, child_end = context.Pipe()
            plan = ClientPlan(
                server.port,
                share,
                args.subs_per_connection,
                first,
                kind=args.kind,
                pets=tuple(followed) if args.kind == "pets" else (),
            )
            process = context.Process(target=client_child, args=(plan, child_end), daemon=True)
            process.start()
            child_end.close()
            children.append((process, parent_end))
            first += share
        for _, pipe in children:
            answer, value = await receive(pipe, 180)
            if answer != "ready":
                raise SystemExit(f"client process failed: {value}")
        await prime(url, args.kind, followed, children, n)
        await asyncio.sleep(1.0)
        loaded = await report(server, out)
        loaded_rss = rss_mib(server.processes)
    finally:
        for _process, pipe in children:
            with contextlib.suppress(Exception):
                pipe.send(("collect", None))
        for process, pipe in children:
            process.join(10)
            if process.is_alive():
                process.kill()
            pipe.close()
        server.stop()
    traced = (loaded["traced"] - idle["traced"]) / 1024 / n
    rss = (loaded_rss - idle_rss) * 1024 / n
    say(f"\nserver code {src or 'this checkout'}: {traced:.2f} KiB/sub traced, {rss:.2f} RSS")
    say(f"  {'KiB/sub':>8} {'allocs/sub':>10}  site (allocating line <- project line)")
    for site, size, allocations in loaded["top"][: args.top]:
        say(f"  {size / 1024 / n:>8.2f} {allocations / n:>10.2f}  {site}")
    return src, traced, rss, idle_rss


async def report(server: Server, out: Path) -> dict[str, Any]:
    with contextlib.suppress(FileNotFoundError):
        await asyncio.to_thread(out.unlink)
    server.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            result: dict[str, Any] = json.loads(await asyncio.to_thread(out.read_text))
            return result
    raise SystemExit(f"no tracemalloc report from the server:\n{server.tail()}")


async def receive(pipe: Any, within: float) -> Any:
    deadline = time.monotonic() + within
    while not pipe.poll():
        if time.monotonic() > deadline:
            raise SystemExit("a client process did not answer")
        await asyncio.sleep(0.05)
    return pipe.recv()


async def prime(url: str, kind: str, followed: list[str], children: list[Any], n: int) -> None:
    """One event on each followed pet (kind pets) or one event (events), until
    every subscription has received one: each group has executed once."""
    pets = followed if kind == "pets" else followed[:1]
    async with connected(url) as conn:
        for chunk in range(0, len(pets), PRIME_CHUNK):
            await conn.execute(
                "insert into pet_price_change_events (pet_id, new_price)"
                " select unnest($1::uuid[]), 20",
                [uuid.UUID(p) for p in pets[chunk : chunk + PRIME_CHUNK]],
            )
            await asyncio.sleep(0.5)
    deadline = time.monotonic() + 120
    while True:
        totals = [0, 0, 0, 0]
        for _, pipe in children:
            pipe.send(("status", None))
        for _, pipe in children:
            _, values = await receive(pipe, 30)
            totals = [a + b for a, b in zip(totals, values, strict=True)]
        if totals[0] >= n:
            return
        if totals[3] or time.monotonic() > deadline:
            raise SystemExit(f"{totals[0]} of {n} subscriptions primed, {totals[3]} errors")
        await asyncio.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    return run_async(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
