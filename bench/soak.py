"""Soak: mixed reads, writes and live subscribers on ONE server process for a
while; every subscriber must see every event exactly once.

    .venv/bin/python bench/soak.py  # --duration 60 --subscribers 200 --write-rate 20 --read-rate 50

On a fresh database petstore_soak_<pid> (bench/harness: the PostgreSQL server or
an embedded one, seeding, `graphql-petstore serve --workers 1`):

1. one price change through the API marks where the soak starts: its cursor;
2. --subscribers subscriptions `events(after: <that cursor>) { id }` over
   graphql-transport-ws, in client processes of their own (harness.subscribers);
3. for --duration seconds, open-loop: writes (85% changePetPrice on a random pet
   that is not sold, 15% recordPetArrival) at --write-rate per second and reads
   (pet, a pets page, an events page, a pet's history) at --read-rate per second,
   over keep-alive HTTP/1.1 connections;
4. once the load stops, the subscribers may drain for --drain-timeout seconds.

It prints the HTTP 5xx count (and every other failure), writes/s achieved
against offered, the events every subscriber had to see (all those in the
database after the start mark) against what each saw (missed, duplicated,
unexpected), the delivery latency (receipt time minus the event's created_at,
which PostgreSQL sets when the appending transaction starts, so an upper bound
of commit -> receipt by the INSERT's own duration), and the server's RSS after
10 s and at the end of the load (flagged when they differ by more than 20%).
It exits 1 on any 5xx, transport error, missed or duplicated delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

from graphql_petstore.database.migrations import migrate
from harness.cli import add_keep_database, add_server_url
from harness.cpu import rss_mib
from harness.database import connected, create_database, pet_ids, postgres_server
from harness.http_client import ConnectionPool, Requests
from harness.load import run_async
from harness.pacing import Paced, run_paced
from harness.report import command_line, say, say_machine
from harness.results import percentile_ms
from harness.seeding import SeedPlan, seed
from harness.server import Server
from harness.subscribers import Collected, Subscribers

SUBSCRIPTION = "subscription Soak($after: String) { events(after: $after) { id } }"
CHANGE = (
    "mutation Change($input: ChangePetPriceInput!) "
    "{ changePetPrice(input: $input) { event { id cursor } userErrors { code } } }"
)
ARRIVE = (
    "mutation Arrive($input: RecordPetArrivalInput!) "
    "{ recordPetArrival(input: $input) { event { id } userErrors { code } } }"
)
READS = [
    ("query Pet($id: UUID!) { pet(id: $id) { id name price status version } }", True),
    (
        "query Page { pets(first: 20) { nodes { id name price status } pageInfo { endCursor } } }",
        False,
    ),
    ("query Events { events(first: 20) { nodes { id type createdAt } } }", False),
    ("query History($id: UUID!) { pet(id: $id) { history(first: 10) { nodes { id } } } }", True),
]
RSS_EARLY_AT = 10.0
RSS_TOLERANCE = 0.20


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_url(parser)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--subs-per-connection", type=int, default=20)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--write-rate", type=float, default=20.0, help="writes offered per second")
    parser.add_argument("--read-rate", type=float, default=50.0, help="reads offered per second")
    parser.add_argument("--max-in-flight", type=int, default=32, help="per kind of request")
    parser.add_argument("--pets", type=int, default=2_000, help="pets to seed")
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    add_keep_database(parser)
    return parser.parse_args(argv)


def classify(status: int, body: bytes) -> tuple[str, dict[str, Any]]:
    """('ok' | 'userErrors' | 'HTTP n' | 'GraphQL CODE', the payload)."""
    if status != 200:
        return f"HTTP {status}", {}
    document = json.loads(body)
    if document.get("errors"):
        codes = sorted({str((e.get("extensions") or {}).get("code")) for e in document["errors"]})
        return "GraphQL " + ",".join(codes), {}
    data = document.get("data") or {}
    payload = next(iter(data.values()), None) or {}
    if isinstance(payload, dict) and payload.get("userErrors"):
        return "userErrors", payload
    return "ok", payload if isinstance(payload, dict) else {}


class Load:
    """The soak's writes and reads against one server."""

    def __init__(self, server: Server, token: str, pets: list[str]) -> None:
        self.requests = Requests("127.0.0.1", server.port, token)
        self.writes_pool = ConnectionPool("127.0.0.1", server.port)
        self.reads_pool = ConnectionPool("127.0.0.1", server.port)
        self.pets = pets
        self.rng = random.Random(11)
        self.written: list[str] = []

    async def change(self) -> dict[str, Any]:
        """One price change that must succeed (the start mark)."""
        status, body = await self.writes_pool.request(self._change_request())
        outcome, payload = classify(status, body)
        if outcome != "ok":
            raise SystemExit(f"the start mark failed: {outcome} {body[:300]!r}")
        event: dict[str, Any] = payload["event"]
        return event

    def _change_request(self) -> bytes:
        price = f"{self.rng.randint(100, 99_999) / 100:.2f}"
        return self.requests.graphql(
            CHANGE, {"input": {"petId": self.rng.choice(self.pets), "newPrice": price}}
        )

    async def write(self) -> str:
        if self.rng.random() < 0.85:
            request = self._change_request()
        else:
            name = f"Soak {uuid.uuid4().hex[:8]}"
            request = self.requests.graphql(
                ARRIVE, {"input": {"name": name, "species": "Cat", "price": "10.00"}}
            )
        status, body = await self.writes_pool.request(request)
        outcome, payload = classify(status, body)
        if outcome == "ok":
            self.written.append(payload["event"]["id"])
        return outcome

    async def read(self) -> str:
        query, needs_pet = self.rng.choice(READS)
        variables = {"id": self.rng.choice(self.pets)} if needs_pet else None
        status, body = await self.reads_pool.request(self.requests.graphql(query, variables))
        return classify(status, body)[0]

    async def close(self) -> None:
        await self.writes_pool.close()
        await self.reads_pool.close()


async def sample_rss(server: Server, rss: dict[str, float], seconds: float) -> None:
    start = time.perf_counter()
    await asyncio.sleep(RSS_EARLY_AT)
    rss["early"] = rss_mib(server.processes)
    while time.perf_counter() - start < seconds:
        rss["peak"] = max(rss.get("peak", 0.0), rss_mib(server.processes))
        await asyncio.sleep(1.0)


async def drain(subscribers: Subscribers, expected_messages: int, within: float) -> float:
    """Seconds until every expected message arrived (or `within` passed)."""
    start = time.perf_counter()
    while time.perf_counter() - start < within:
        _, _, received, _ = await subscribers.status()
        if received >= expected_messages:
            break
        await asyncio.sleep(0.2)
    return time.perf_counter() - start


def say_requests(paced: Paced, seconds: float) -> None:
    outcomes = ", ".join(f"{name} {count}" for name, count in paced.outcomes.most_common())
    say(
        f"  {paced.name:<6} offered {paced.offered} ({paced.rate:g}/s), not started "
        f"{paced.not_started}, completed {paced.completed} "
        f"({paced.completed / seconds:.1f}/s): {outcomes or '-'}; "
        f"p50 {percentile_ms(paced.latencies, 0.5):.1f} ms, "
        f"p99 {percentile_ms(paced.latencies, 0.99):.1f} ms"
    )


def deliveries(
    collected: Collected, subscribers: int, expected: set[str], created: dict[str, float]
) -> tuple[dict[str, int], list[float]]:
    """Missed/unexpected deliveries over all subscriptions, and the latencies
    (receipt minus created_at) of the expected ones."""
    # perf_counter is CLOCK_MONOTONIC in every process; created_at is wall time.
    offset = time.time() - time.perf_counter()
    seen: defaultdict[int, set[str]] = defaultdict(set)
    latencies = []
    for subscription, event_id, received_at in collected.records:
        seen[subscription].add(event_id)
        if event_id in created:
            latencies.append(received_at + offset - created[event_id])
    counts = Counter[str]()
    for subscription in range(subscribers):
        counts["missed"] += len(expected - seen[subscription])
        counts["unexpected"] += len(seen[subscription] - expected)
        counts["complete"] += seen[subscription] >= expected
    counts["duplicated"] = collected.duplicates
    return dict(counts), latencies


async def amain(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    say_machine()
    failures: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        url = await create_database(
            stack, admin_url, f"petstore_soak_{os.getpid()}", args.keep_database
        )
        await migrate(url)
        await seed(url, SeedPlan(args.pets, args.pets * 2))
        _, pets = await pet_ids(url)
        token = uuid.uuid4().hex
        server = Server(url, 1, None, token)
        stack.callback(server.stop)
        await server.wait_ready()
        load = Load(server, token, pets)
        stack.push_async_callback(load.close)

        mark = await load.change()
        async with connected(url) as conn:
            before = {r["id"] for r in await conn.fetch("select id::text as id from events")}
        subscribers = Subscribers(
            server.port,
            args.subscribers,
            args.subs_per_connection,
            args.client_processes,
            SUBSCRIPTION,
            {"after": mark["cursor"]},
        )
        stack.push_async_callback(subscribers.stop)
        await subscribers.ready()
        await asyncio.sleep(1.0)
        say(
            f"\nsoak: {args.duration:g} s on one server process (pid {server.process.pid}); "
            f"{args.subscribers} subscribers ({subscribers.layout}); writes offered "
            f"{args.write_rate:g}/s, reads {args.read_rate:g}/s; idle RSS "
            f"{rss_mib(server.processes):.1f} MiB"
        )

        writes, reads = Paced("writes", args.write_rate), Paced("reads", args.read_rate)
        rss: dict[str, float] = {}
        started = time.perf_counter()
        await asyncio.gather(
            run_paced(writes, load.write, args.duration, args.max_in_flight),
            run_paced(reads, load.read, args.duration, args.max_in_flight),
            sample_rss(server, rss, args.duration),
        )
        load_seconds = time.perf_counter() - started
        rss["end"] = rss_mib(server.processes)

        async with connected(url) as conn:
            rows = await conn.fetch(
                "select id::text as id, extract(epoch from created_at)::float8 as at from events"
            )
        created = {r["id"]: r["at"] for r in rows if r["id"] not in before}
        expected = set(created)
        drained = await drain(subscribers, len(expected) * args.subscribers, args.drain_timeout)
        collected = await subscribers.collect()
        counts, latencies = deliveries(collected, args.subscribers, expected, created)

        say(f"\nrequests over {load_seconds:.1f} s:")
        say_requests(writes, load_seconds)
        say_requests(reads, load_seconds)
        statuses = writes.outcomes + reads.outcomes
        server_errors = sum(n for name, n in statuses.items() if name.startswith("HTTP 5"))
        say(f"HTTP 5xx: {server_errors}")
        stored = len(expected)
        say(
            f"writes/s: achieved {stored / args.duration:.1f} of {args.write_rate:g} offered "
            f"({stored} events stored after the start mark; "
            f"{len(load.written)} acknowledged)"
        )
        say(
            f"deliveries: {stored} events x {args.subscribers} subscribers = "
            f"{stored * args.subscribers} expected; received {len(collected.records)}, "
            f"missed {counts['missed']}, duplicated {counts['duplicated']}, unexpected "
            f"{counts['unexpected']}; subscribers that saw every event "
            f"{counts['complete']}/{args.subscribers}; drained {drained:.1f} s after the load"
        )
        p50, p99, top = (percentile_ms(latencies, q) for q in (0.5, 0.99, 1.0))
        say(
            f"delivery latency (receipt - created_at): p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"max {top:.1f} ms"
        )
        growth = rss["end"] / rss["early"] - 1 if rss.get("early") else float("nan")
        say(
            f"server RSS: after {RSS_EARLY_AT:g} s {rss.get('early', float('nan')):.1f} MiB, "
            f"at the end {rss['end']:.1f} MiB ({growth:+.0%}), peak {rss.get('peak', 0):.1f} MiB"
            + ("" if abs(growth) <= RSS_TOLERANCE else f"  FLAG: beyond {RSS_TOLERANCE:.0%}")
        )
        if collected.errors:
            say(f"subscriber errors: {len(collected.errors)}: {collected.errors[:3]}")
        other = {k: v for k, v in statuses.items() if k not in ("ok", "userErrors")}
        if server_errors or other:
            failures.append(f"failed requests: {other}")
        if counts["missed"] or counts["duplicated"] or collected.errors:
            failures.append("subscribers missed or duplicated events, or saw errors")
        if server.process.poll() is not None:
            failures.append(f"the server exited:\n{server.tail()}")
    say(f"command: {command_line()}")
    for failure in failures:
        say(f"FAILURE: {failure}")
    say(f"total time {time.perf_counter() - began:.0f} s; " + ("INVALID RUN" if failures else "ok"))
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    return run_async(amain(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
