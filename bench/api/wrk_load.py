"""What metrics and access lines cost with the server as the bottleneck
(api_bench.py --compare-metrics ROUNDS --load wrk).

The Python load generator of the other scenarios costs about a quarter of a
core at the rates of one server worker, on a machine of two cores: a
throughput measured with it is partly the generator's. wrk (written in C)
sends the same requests for a few per cent of a core, so that one server
worker, on the one core left to it and PostgreSQL, is what limits the rate.
The operations are bench-peer's (harness/documents.py): changePetPrice and
a page of 50 AVAILABLE pets, which is cheap for PostgreSQL on the bench's
data set (nine pets in ten are AVAILABLE). Each measured run is its own wrk
run, after a warm-up run; the server's CPU is measured over the measured run
only. Every mutation must append one event: the events appended during a
run are compared with the responses wrk counted (a GraphQL error or a
userError appends none).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import shutil
import statistics
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.cpu import CpuMeter, processes
from harness.database import connected
from harness.documents import CHANGE_PRICE, PETS_PAGE
from harness.http_client import HttpConnection, Requests, graphql_data
from harness.report import cpu_cell, say
from harness.rounds import median_interval
from harness.server import Server

SCRIPT = Path(__file__).with_name("graphql_post.lua")
# A run's events may exceed its responses by the requests still in flight
# when wrk stopped counting (one per connection at most).
EVENTS_TABLE = "pet_price_change_events"


@dataclass
class WrkRun:
    name: str
    concurrency: int
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    errors: int = 0
    notes: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_ms_per_request(self) -> float:
        """The server's CPU milliseconds per request (all its processes)."""
        if not self.requests:
            return math.nan
        return self.cpu.get("server", math.nan) / 100 * self.seconds / self.requests * 1000

    def row(self) -> str:
        cpu = self.cpu
        return (
            f"{self.name:<40} {self.concurrency:>4} {self.rate:>9.1f} {self.p50_ms:>8.2f} "
            f"{self.p99_ms:>8.2f} {self.errors:>6}  {cpu_cell(cpu, 'client'):>6} "
            f"{cpu_cell(cpu, 'server'):>6} {cpu_cell(cpu, 'pg'):>6} {cpu_cell(cpu, 'other'):>6} "
            f"{cpu_cell(cpu, 'idle'):>5} {self.server_ms_per_request:>9.3f}"
        )


HEADER = (
    f"{'run':<40} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}  "
    f"{'wrk':>6} {'server':>6} {'pg':>6} {'other':>6} {'idle':>5} {'srv ms/r':>9}"
)


def have_wrk() -> str | None:
    return shutil.which("wrk")


class WrkLoad:
    """wrk against one server: the pets page, or changePetPrice on `pets`."""

    def __init__(
        self,
        wrk: str,
        server: Server,
        token: str,
        pets: tuple[str, str],  # the file of pets to change, and one of them
        pg: Callable[[], list[psutil.Process]] | None,
    ) -> None:
        self.wrk = wrk
        self.server = server
        self.token = token
        self.pets_file, self.pet = pets
        self.pg = pg
        self.url = f"http://127.0.0.1:{server.port}/graphql"

    def environment(self, scenario: str) -> dict[str, str]:
        if scenario == "changePetPrice":
            return {"PETSTORE_WRK_DOCUMENT": CHANGE_PRICE, "PETSTORE_WRK_PETS": self.pets_file}
        return {"PETSTORE_WRK_BODY": json.dumps({"query": PETS_PAGE})}

    async def check(self) -> None:
        """One request of each scenario through the Python client: both must
        answer without errors before wrk (which reads no bodies) runs them."""
        requests = Requests("127.0.0.1", self.server.port, self.token)
        connection = HttpConnection("127.0.0.1", self.server.port)
        try:
            for body in (
                requests.graphql(PETS_PAGE),
                requests.graphql(CHANGE_PRICE, {"id": self.pet, "price": "1.23"}),
            ):
                problem, data = graphql_data(*await connection.request(body))
                if problem is None and "pets" in data and len(data["pets"]["nodes"]) != 50:
                    problem = f"the pets page had {len(data['pets']['nodes'])} pets"
                if problem is None and data.get("changePetPrice", {}).get("userErrors"):
                    problem = f"userErrors: {data['changePetPrice']['userErrors']}"
                if problem is not None:
                    raise SystemExit(f"--load wrk: a check request failed: {problem}")
        finally:
            await connection.close()

    async def run(
        self,
        name: str,
        scenario: str,
        concurrency: int,
        seconds: float,
        threads: int,
        count: bool = True,
    ) -> WrkRun:
        """One wrk run; `count`: check that every mutation answered appended
        one event (False: another server appends to the same table meanwhile,
        and the caller checks both together)."""
        result = WrkRun(name, concurrency)
        command = [
            self.wrk,
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{seconds:g}s",
            "-H",
            f"Authorization: Bearer {self.token}",
            "-s",
            str(SCRIPT),
            self.url,
        ]
        mutation = scenario == "changePetPrice" and count
        before = await count_events(self.server.url) if mutation else 0
        process = await asyncio.create_subprocess_exec(
            *command,
            env={**os.environ, **self.environment(scenario)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        meter = CpuMeter()
        # wrk, once reaped, in this process's children times (and this process idle).
        meter.add("client", lambda: processes([os.getpid()]))
        meter.add("server", self.server.processes)
        if self.pg is not None:
            meter.add("pg", self.pg)
        meter.start()
        output, _ = await process.communicate()
        result.cpu = meter.stop()
        text = output.decode(errors="replace")
        summary = next(
            (line for line in text.splitlines() if line.startswith("PETSTORE_WRK ")), None
        )
        if process.returncode != 0 or summary is None:
            raise SystemExit(f"wrk failed ({process.returncode}): {' '.join(command)}\n{text}")
        figures = json.loads(summary.split(" ", 1)[1])
        result.requests = figures["requests"]
        result.seconds = figures["duration_us"] / 1e6
        result.p50_ms = figures["p50_us"] / 1000
        result.p99_ms = figures["p99_us"] / 1000
        for kind in ("status", "connect", "read", "write", "timeout"):
            if figures[kind]:
                result.errors += figures[kind]
                result.notes.append(f"{figures[kind]} {kind} error(s)")
        if mutation:
            appended = await count_events(self.server.url) - before
            # Up to `concurrency` requests may be out when the warm-up's wrk
            # stops (stored after `before` was read) and as many when this
            # one stops (stored, never answered to wrk).
            if not result.requests <= appended <= result.requests + 2 * concurrency:
                result.errors += abs(appended - result.requests)
                result.notes.append(f"{appended} events appended for {result.requests} responses")
        return result


async def count_events(url: str) -> int:
    async with connected(url) as conn:
        count: int = await conn.fetchval(f"select count(*) from {EVENTS_TABLE}")
        return count


def write_pets_file(changeable: list[str]) -> str:
    handle, path = tempfile.mkstemp(prefix="petstore-wrk-pets-", suffix=".txt")
    with os.fdopen(handle, "w") as out:
        out.write("\n".join(changeable) + "\n")
    return path


# How one scenario's rounds run: (rounds, loads, scenario, concurrency,
# warm-up, duration, threads) -> {variant: its runs}.
Measure = Callable[
    [int, dict[str, "WrkLoad"], str, int, float, float, int], Awaitable[dict[str, list[WrkRun]]]
]


async def alternate_wrk(
    rounds: int,
    loads: dict[str, WrkLoad],
    scenario: str,
    concurrency: int,
    warmup: float,
    duration: float,
    threads: int,
) -> dict[str, list[WrkRun]]:
    """Rounds of every variant in turn, in an order drawn anew for each round
    (seeded: the same run draws the same orders). Reversing the order every
    other round (A B, B A, A B, …) puts the same variant twice in a row at
    each round's boundary, so that one disturbance of ten seconds or so hits
    that variant twice, and the pairs' ratios lean its way; drawn orders
    spread such disturbances over both variants."""
    runs: dict[str, list[WrkRun]] = {variant: [] for variant in loads}
    draw = random.Random(rounds)
    for round_no in range(1, rounds + 1):
        order = list(loads)
        draw.shuffle(order)
        for variant in order:
            load = loads[variant]
            if warmup > 0:
                await load.run("warm-up", scenario, concurrency, warmup, threads)
            run = await load.run(
                f"{scenario} metrics {variant} r{round_no}",
                scenario,
                concurrency,
                duration,
                threads,
            )
            say(run.row())
            for note in run.notes:
                say(f"      {note}")
            runs[variant].append(run)
    return runs


def summary_lines(scenario: str, concurrency: int, runs: dict[str, list[WrkRun]]) -> list[str]:
    off, on = runs["off"], runs["on"]
    paired = [b.rate / a.rate for a, b in zip(off, on, strict=True) if a.rate]
    low, high = median_interval(paired)
    cpu_off = statistics.median(r.server_ms_per_request for r in off)
    cpu_on = statistics.median(r.server_ms_per_request for r in on)
    mean_off = statistics.fmean(r.rate for r in off)
    mean_on = statistics.fmean(r.rate for r in on)
    other = statistics.fmean(r.cpu.get("other", math.nan) for r in [*off, *on])
    client = statistics.fmean(r.cpu.get("client", math.nan) for r in [*off, *on])
    server = statistics.fmean(r.cpu.get("server", math.nan) for r in [*off, *on])
    return [
        f"{scenario} c{concurrency}: off {mean_off:.0f} req/s "
        f"({min(r.rate for r in off):.0f}-{max(r.rate for r in off):.0f}), on {mean_on:.0f} req/s "
        f"({min(r.rate for r in on):.0f}-{max(r.rate for r in on):.0f})",
        f"  on/off per round: {' '.join(f'{p:.3f}' for p in paired)}; median "
        f"{statistics.median(paired):.3f} = {100 * (statistics.median(paired) - 1):+.1f}% "
        f"of throughput (range {min(paired):.3f}-{max(paired):.3f}; 95% bootstrap interval "
        f"of the median {low:.3f}-{high:.3f})",
        f"  server CPU per request (median of rounds): off {cpu_off:.3f} ms, on {cpu_on:.3f} ms "
        f"= {100 * (cpu_on / cpu_off - 1):+.1f}%; server {server:.0f}%, wrk {client:.0f}%, "
        f"other programs {other:.0f}% of a core (means)",
    ]


async def compare_with_wrk(
    rounds: int,
    servers: dict[str, Server],
    token: str,
    changeable: list[str],
    pg: Callable[[], list[psutil.Process]] | None,
    concurrencies: list[int],
    warmup: float,
    duration: float,
    threads: int,
    measure: Measure | None = None,
) -> int:
    """Prints every run and the on/off figures per scenario and concurrency;
    returns the number of errors. `measure`: how each scenario's rounds run
    (alternate_wrk by default; api/side_by_side.py loads both servers at once)."""
    measure = measure or alternate_wrk
    wrk = have_wrk()
    if wrk is None:
        raise SystemExit(
            "--load wrk: wrk is not installed (Debian: apt-get install wrk); "
            "without it, --load python measures with the bench's own client"
        )
    pets_file = write_pets_file(changeable)
    try:
        pets = (pets_file, changeable[0])
        loads = {name: WrkLoad(wrk, server, token, pets, pg) for name, server in servers.items()}
        for load in loads.values():
            await load.check()
        how = "alternating rounds" if measure is alternate_wrk else "rounds of both servers at once"
        say(
            f"\nwrk ({threads} thread(s)), {rounds} {how} of {warmup:g} s warm-up "
            f"+ {duration:g} s each; cpu columns: % of one core; srv ms/r: the server's CPU "
            "milliseconds per request"
        )
        say(HEADER)
        lines: list[str] = []
        errors = 0
        for scenario in ("changePetPrice", "pets page"):
            for concurrency in concurrencies:
                runs = await measure(
                    rounds, loads, scenario, concurrency, warmup, duration, threads
                )
                errors += sum(r.errors for variant in runs.values() for r in variant)
                lines += summary_lines(scenario, concurrency, runs)
        say("")
        for line in lines:
            say(line)
        return errors
    finally:
        os.unlink(pets_file)
