"""Subscription benchmark: the cost of the per-event NOTIFY, and commit-to-receipt
latency of the `events` subscription at 1, 100 and 1,000 subscribers.

One command (see bench/README.md), under 3 minutes:

    .venv/bin/python bench/subscription_bench.py [--round 3] [--rounds 4] [--rate 20]

It reuses api_bench.py's helpers (database creation and seeding, `graphql-petstore
serve` as a subprocess, CPU accounting) on a fresh database petstore_bench_<pid>.

Part 1, NOTIFY cost (design §4): raw asyncpg INSERTs into pet_price_change_events
at concurrency 32 (one pooled connection per task, autocommit, each task on its
own pets), with the server not running, in alternating rounds of four variants:

  a. as migrated: events_apply() sends pg_notify with a distinct JSON payload per event;
  b. no notify: events_apply() replaced, in the bench database only, by its own
     body (pg_get_functiondef) minus the `perform pg_notify(...)` statement;
  c. one constant payload: pg_notify('petstore_events', '') instead;
  d. as a, with a LISTEN connection attached and draining the notifications.

Part 2, latency: `graphql-petstore serve --workers 1`; S subscriptions
`subscription { events { id } }` over graphql-transport-ws from separate client
processes (S/--subs-per-connection WebSocket connections); once every subscription
has received a priming event, events are INSERTed at --rate per second for
--write-seconds; each event's commit time is taken when its INSERT returns, and
each message's receipt time when the client reads it (time.perf_counter is
CLOCK_MONOTONIC, shared by all processes). Every subscription must receive every
measured event: any loss, duplicate or GraphQL error makes the run exit 1.
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
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_bench
from api_bench import (
    CORES,
    DEFAULT_SERVER_URL,
    RAW_INSERT,
    CpuMeter,
    Result,
    SeedPlan,
    Server,
    _drop_database,
    _processes,
    _raw_load,
    postgres_processes,
    reachable,
    run_async,
    say,
    seed,
    server_settings,
)
from graphql_petstore.database.appends import new_id
from graphql_petstore.database.doorbell import ANNOUNCE_INTERVAL
from graphql_petstore.database.location import with_database
from graphql_petstore.database.migrations import migrate

SUBSCRIPTION = "subscription Events { events { id } }"
NOTIFY_RE = re.compile(r"perform\s+pg_notify\s*\(.*?\)\s*;", re.DOTALL | re.IGNORECASE)
CONSTANT_NOTIFY = "perform pg_notify('petstore_events', '');"
VARIANTS = {
    "a": "as migrated (per-event JSON notify)",
    "b": "notify removed",
    "c": "one constant-payload notify",
    "d": "as migrated + LISTEN attached",
    # What the server does: its sessions set petstore.notify = 'batched' (no
    # per-event notify) and its doorbell sends back-to-back NOTIFYs, one per
    # batch of appends, at most one per ANNOUNCE_INTERVAL, on its listening
    # connection.
    "e": "batched session + doorbell NOTIFYs",
}


# --------------------------------------------------------------------------- part 1


async def function_bodies(url: str) -> dict[str, str]:
    """events_apply() as migrated, without notify, and with a constant notify."""
    conn = await asyncpg.connect(url)
    try:
        original = await conn.fetchval("select pg_get_functiondef('events_apply'::regproc)")
    finally:
        await conn.close()
    without, n = NOTIFY_RE.subn("", original)
    constant, m = NOTIFY_RE.subn(CONSTANT_NOTIFY, original)
    if n != 1 or m != 1 or "pg_notify" in without:
        raise SystemExit(f"could not strip the pg_notify from events_apply():\n{original}")
    return {"a": original, "b": without, "c": constant, "d": original, "e": original}


async def _ring_forever(conn: asyncpg.Connection) -> None:
    # As the server's doorbell under sustained appends: a NOTIFY, then a pause.
    while True:
        await conn.execute("notify petstore_events")
        await asyncio.sleep(ANNOUNCE_INTERVAL)


async def notify_cost(
    args: argparse.Namespace, url: str, pets: list[str], meter: CpuMeter
) -> dict[str, list[Result]]:
    bodies = await function_bodies(url)
    results: dict[str, list[Result]] = {v: [] for v in VARIANTS}
    admin = await asyncpg.connect(url)
    try:
        for round_no in range(1, args.rounds + 1):
            for variant in VARIANTS:
                await admin.execute(bodies[variant])
                listener = None
                announcer: asyncio.Task[None] | None = None
                received = 0
                load_url = url
                if variant == "e":
                    # asyncpg passes unknown DSN parameters on as server settings.
                    load_url = url + ("&" if "?" in url else "?") + "petstore.notify=batched"
                if variant in ("d", "e"):

                    def on_notify(*_: Any) -> None:
                        nonlocal received
                        received += 1

                    listener = await asyncpg.connect(url)
                    await listener.add_listener("petstore_events", on_notify)
                if variant == "e":
                    assert listener is not None
                    announcer = asyncio.create_task(_ring_forever(listener))
                result = Result(f"{variant}. {VARIANTS[variant]}", "raw", 32, "cli=1", args.round)
                try:
                    await _raw_load(
                        "insert", load_url, pets, list(range(32)), 32, result, args.warmup, meter
                    )
                finally:
                    if announcer is not None:
                        announcer.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await announcer
                    if listener is not None:
                        await asyncio.sleep(0.2)  # the last notifications
                        await listener.close()
                if listener is not None:
                    result.note = f"listener drained {received} notifications"
                results[variant].append(result)
                say(
                    f"  round {round_no} {variant}: {result.rate:8.0f} events/s  "
                    f"p50 {result.percentile(0.5):6.2f} ms  pg cpu {result.cpu.get('pg', 0):4.0f}%"
                    f"  other {result.cpu.get('other', 0):3.0f}%  errors {result.errors}"
                    + (f"  ({result.note})" if result.note else "")
                )
                for sample in result.error_samples:
                    say(f"      error: {sample}")
        await admin.execute(bodies["a"])  # leave the database as migrated
    finally:
        await admin.close()
    return results


# --------------------------------------------------------------------------- part 2: clients


def _client_child(
    port: int,
    connections: int,
    subs_per_connection: int,
    first_connection: int,
    pipe: multiprocessing.connection.Connection,
) -> None:
    run_async(_client(port, connections, subs_per_connection, first_connection, pipe))


async def _client(
    port: int,
    connections: int,
    subs_per_connection: int,
    first_connection: int,
    pipe: multiprocessing.connection.Connection,
) -> None:
    """One client process: `connections` WebSockets x `subs_per_connection`
    subscriptions; answers the parent's status and collect commands."""
    import websockets

    records: list[tuple[int, str, float]] = []  # (subscription, event id, receipt time)
    seen: dict[int, set[str]] = {}
    errors: list[str] = []
    duplicates = 0
    last_id: str | None = None
    done: set[int] = set()
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []
    perf = time.perf_counter

    async def open_one(index: int) -> None:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/graphql",
            subprotocols=["graphql-transport-ws"],
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
            await ws.send(
                json.dumps(
                    {
                        "id": str(base + j),
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION},
                    }
                )
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
                    event_id = payload["data"]["events"]["id"]
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


@dataclass
class LatencyRun:
    subscribers: int
    layout: str
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
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000.0

    @property
    def lost(self) -> int:
        return self.expected - self.received


def server_rss_mib(server: Server) -> float:
    total = 0
    for process in server.processes():
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total / 2**20


async def latency_run(
    args: argparse.Namespace,
    url: str,
    server: Server,
    pets: list[str],
    subscribers: int,
    meter_groups: dict[str, Any],
) -> LatencyRun:
    per_connection = min(subscribers, args.subs_per_connection)
    if subscribers % per_connection:
        raise SystemExit(f"S={subscribers} is not a multiple of {per_connection}")
    connections = subscribers // per_connection
    n_procs = max(1, min(args.client_processes, connections))
    run = LatencyRun(
        subscribers,
        f"{connections} ws x {per_connection} subs, {n_procs} client proc(s)",
    )
    context = multiprocessing.get_context("spawn")
    children: list[tuple[Any, multiprocessing.connection.Connection]] = []
    t0 = time.perf_counter()
    first = 0
    for i in range(n_procs):
        share = connections // n_procs + (1 if i < connections % n_procs else 0)
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=_client_child,
            args=(server.port, share, per_connection, first, child_end),
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
            kind, value = await receive(pipe, 120)
            if kind != "ready":
                raise SystemExit(f"client process failed: {value}")
        run.connect_seconds = time.perf_counter() - t0

        conn = await asyncpg.connect(url)
        rng = random.Random(subscribers)
        metadata = json.dumps({"actor": api_bench.TOKEN_NAME, "bench": "subscriptions"})

        async def insert() -> tuple[str, float]:
            event_id = new_id()
            price = api_bench._random_price(rng)
            await conn.execute(
                RAW_INSERT,
                event_id,
                uuid.UUID(rng.choice(pets)),
                price,
                metadata,
                "PET_PRICE_CHANGE",
            )
            return str(event_id), time.perf_counter()

        try:
            # Prime: every subscription has seen an event before the measured ones.
            deadline = time.monotonic() + 60
            while True:
                await insert()
                await asyncio.sleep(0.1)
                primed, _, _, errors = await status(None)
                if primed >= subscribers or errors:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {primed} of {subscribers} subscriptions primed")
            await asyncio.sleep(0.3)

            meter = CpuMeter()
            for name, get in meter_groups.items():
                meter.add(name, get)
            client_pids = [p.pid for p, _ in children if p.pid is not None]
            meter.add("client", lambda: _processes(client_pids))
            commits: dict[str, float] = {}
            count = round(args.rate * args.write_seconds)
            meter.start()
            start = time.perf_counter()
            last = ""
            for i in range(count):
                delay = start + i / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                last, committed = await insert()
                commits[last] = committed
            written = time.perf_counter()
            run.write_seconds = written - start
            deadline = time.monotonic() + args.drain_timeout
            while True:
                _, done, _, _ = await status(last)
                if done >= subscribers or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            run.drain_seconds = time.perf_counter() - written
            run.cpu = meter.stop()
            run.rss_mib = server_rss_mib(server)
        finally:
            await conn.close()

        run.events = len(commits)
        run.expected = subscribers * len(commits)
        for _, pipe in children:
            pipe.send(("collect", None))
        for _, pipe in children:
            _, (records, errors, duplicates) = await receive(pipe, 60)
            run.errors.extend(errors)
            run.duplicates += duplicates
            for _, event_id, received_at in records:
                committed = commits.get(event_id)
                if committed is not None:
                    run.received += 1
                    run.latencies.append(received_at - committed)
    finally:
        for process, pipe in children:
            await loop.run_in_executor(None, process.join, 10)
            if process.is_alive():
                process.kill()
            pipe.close()
    return run


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server-url",
        default=os.environ.get("PETSTORE_BENCH_SERVER_URL", DEFAULT_SERVER_URL),
        help=f"admin URL of the PostgreSQL server (default {DEFAULT_SERVER_URL})",
    )
    parser.add_argument("--pets", type=int, default=2_000, help="pets to seed")
    parser.add_argument("--round", type=float, default=3.0, help="seconds per NOTIFY round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of a,b,c,d")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before each round")
    parser.add_argument("--subscribers", default="1,100,1000", help="S values")
    parser.add_argument("--subs-per-connection", type=int, default=20)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="events/s during latency runs")
    parser.add_argument("--write-seconds", type=float, default=5.0)
    parser.add_argument("--drain-timeout", type=float, default=30.0)
    parser.add_argument("--skip-notify", action="store_true", help="only part 2")
    parser.add_argument("--keep-database", action="store_true")
    return parser.parse_args(argv)


def _fmt_cpu(cpu: dict[str, float], name: str) -> str:
    value = cpu.get(name)
    return "-" if value is None or math.isnan(value) else f"{value:.0f}%"


async def amain(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    busy = psutil.cpu_percent(interval=1.0)
    say(
        f"machine: {CORES} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"busy before the run: {busy * CORES:.0f}% of one core"
        + ("  (WARNING: other load disturbs the figures)" if busy * CORES > 20 else "")
    )
    failures: list[str] = []
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
        await migrate(url)
        await seed(url, SeedPlan(args.pets, args.pets * 2))
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("select id::text as id from pets where status <> 'SOLD'")
        finally:
            await conn.close()
        pets = [row["id"] for row in rows]
        random.Random(7).shuffle(pets)
        pg = await postgres_processes(url)

        # ---- part 1
        notify: dict[str, list[Result]] = {}
        if not args.skip_notify:
            meter = CpuMeter()
            meter.add("client", lambda: _processes([os.getpid()]))
            if pg is not None:
                meter.add("pg", pg)
            say(
                f"\nPart 1: NOTIFY cost; raw INSERT at concurrency 32, {args.rounds} rounds of "
                f"a,b,c,d, each {args.warmup:g} s warm-up + {args.round:g} s measured "
                "(server not running)"
            )
            notify = await notify_cost(args, url, pets, meter)
            # Part 1 appended tens of thousands of events: settle the tables (as
            # the seed does) so that autovacuum does not run during part 2.
            conn = await asyncpg.connect(url)
            try:
                t0 = time.perf_counter()
                await conn.execute("vacuum analyze")
                total = await conn.fetchval("select count(*) from events")
            finally:
                await conn.close()
            say(f"  vacuum analyze after part 1: {time.perf_counter() - t0:.2f} s; {total} events")
            for results in notify.values():
                for r in results:
                    if r.errors:
                        failures.append(f"{r.name}: {r.errors} insert errors")

        # ---- part 2
        token = uuid.uuid4().hex
        server = Server(url, 1, None, token)
        stack.callback(server.stop)
        await server.wait_ready()
        await asyncio.sleep(1.0)
        idle_rss = server_rss_mib(server)
        say(
            f"\nPart 2: latency; server: {shlex.join(server.command)}; idle RSS "
            f"{idle_rss:.1f} MiB ({len(server.processes())} process(es)); writes at "
            f"{args.rate:g} events/s for {args.write_seconds:g} s per S"
        )
        groups: dict[str, Any] = {
            "writer": lambda: _processes([os.getpid()]),
            "server": server.processes,
        }
        if pg is not None:
            groups["pg"] = pg
        runs: list[LatencyRun] = []
        for s in [int(x) for x in args.subscribers.split(",") if x.strip()]:
            run = await latency_run(args, url, server, pets, s, groups)
            runs.append(run)
            say(
                f"  S={s:<5} {run.layout}: connected in {run.connect_seconds:.1f} s; "
                f"{run.received}/{run.expected} messages, p50 {run.percentile(0.5):.1f} ms, "
                f"p99 {run.percentile(0.99):.1f} ms, drain {run.drain_seconds:.2f} s, "
                f"server RSS {run.rss_mib:.1f} MiB"
            )
            if run.lost or run.duplicates or run.errors:
                failures.append(
                    f"S={s}: lost {run.lost}, duplicates {run.duplicates}, "
                    f"errors {len(run.errors)} {run.errors[:2]}"
                )
            if server.process.poll() is not None:
                failures.append(f"the server exited:\n{server.tail()}")
                break

        # ---- report
        say("\n" + "=" * 100)
        if notify:
            say(
                f"{'NOTIFY cost (raw INSERT, concurrency 32)':<44} {'events/s':>9} "
                f"{'min':>7} {'max':>7} {'vs b':>6} {'p50 ms':>7} {'pg cpu':>6} {'other':>6}"
            )
            means = {v: statistics.fmean(r.rate for r in rs) for v, rs in notify.items()}
            for variant, results in notify.items():
                rates = [r.rate for r in results]
                p50 = statistics.median(r.percentile(0.5) for r in results)
                cpu_pg = statistics.fmean(r.cpu.get("pg", math.nan) for r in results)
                other = statistics.fmean(r.cpu.get("other", math.nan) for r in results)
                say(
                    f"{results[0].name:<44} {means[variant]:>9.0f} {min(rates):>7.0f} "
                    f"{max(rates):>7.0f} {means[variant] / means['b']:>6.3f} {p50:>7.2f} "
                    f"{cpu_pg:>5.0f}% {other:>5.0f}%"
                )
            cost = 1 - means["a"] / means["b"]
            say(
                f"with/without notify (a/b): {means['a'] / means['b']:.3f} -> the per-event "
                f"notify costs {100 * cost:.1f}% of append throughput "
                f"({'MORE' if cost > 0.10 else 'less'} than the design's 10% threshold); "
                f"constant payload (c/b) {means['c'] / means['b']:.3f}; "
                f"with a listener (d/b) {means['d'] / means['b']:.3f}; "
                f"as the server appends (e/b) {means['e'] / means['b']:.3f}"
            )
            say(f"  ({notify['d'][-1].note} in the last round of d)")
        say("")
        say(
            f"{'latency commit->receipt':<16} {'layout':<38} {'received/expected':>18} "
            f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'drain s':>7} {'RSS MiB':>8} "
            f"{'server':>6} {'client':>6} {'pg':>5} {'other':>5}"
        )
        say(
            f"{'idle (S=0)':<16} {'':<38} {'':>18} {'':>8} {'':>8} {'':>8} {'':>7} {idle_rss:>8.1f}"
        )
        for run in runs:
            say(
                f"{f'S={run.subscribers}':<16} {run.layout:<38} "
                f"{f'{run.received}/{run.expected}':>18} {run.percentile(0.5):>8.1f} "
                f"{run.percentile(0.99):>8.1f} {run.percentile(1.0):>8.1f} "
                f"{run.drain_seconds:>7.2f} {run.rss_mib:>8.1f} {_fmt_cpu(run.cpu, 'server'):>6} "
                f"{_fmt_cpu(run.cpu, 'client'):>6} {_fmt_cpu(run.cpu, 'pg'):>5} "
                f"{_fmt_cpu(run.cpu, 'other'):>5}"
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
                f"{delivered:.0f} messages/s ({big.subscribers} x {args.rate:g} events/s "
                f"offered) with p99 {big.percentile(0.99):.0f} ms; the clients used "
                f"{_fmt_cpu(big.cpu, 'client')} of a core, the server "
                f"{_fmt_cpu(big.cpu, 'server')}"
                + (
                    " -> the server (one worker, one core) is the bottleneck"
                    if big.cpu.get("server", 0) > 80
                    else ""
                )
            )
        disturbed = [r.subscribers for r in runs if r.cpu.get("other", 0) > 25]
        disturbed_notify = [
            r.name for rs in notify.values() for r in rs if r.cpu.get("other", 0) > 25
        ]
        if disturbed or disturbed_notify:
            say(
                f"WARNING: other programs used over 25% of a core during "
                f"{len(disturbed) + len(disturbed_notify)} measurement(s): figures disturbed"
            )
        say(f"command: {shlex.join(sys.orig_argv)}")
        for failure in failures:
            say(f"FAILURE: {failure}")
        say(
            f"total time {time.perf_counter() - began:.0f} s; "
            + ("no loss, no errors" if not failures else "INVALID RUN")
        )
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    return run_async(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
