"""What metrics and access lines cost, counted in instructions (callgrind).

api_bench.py --compare-metrics measures the same cost as throughput, which
other programs on a shared machine disturb by more than the few per cent to
be measured. Instructions executed by the server per request are not
disturbed by them: this runs `serve --workers 1` under
`valgrind --tool=callgrind` with collection off, and for each scenario turns
collection on for N requests (after a warm-up), dumps, and divides. Two
variants alternate, as in --compare-metrics: "off" (PETSTORE_METRICS=off,
PETSTORE_LOG_LEVEL=warning: no metrics, no access lines) and "on" (as
shipped: metrics, one JSON access line per request). It prints instructions
per request of each variant and round, and the ratio on/off. What it does not
count: the kernel's share (the access line's write(2)) and PostgreSQL.

Under callgrind the server runs some 50 times slower, so the access lines'
batches (observability/line_batches.py: a timer and one write(2) per
FLUSH_DELAY) would hold a line or two instead of the dozens they hold at
full speed, and their cost, shared by every line of a batch at full speed,
would fall on nearly every request. So the server's batches wait
--flush-delay seconds instead (harness/line_batching): the bench prints how
many lines a write(2) of them held, to compare with full speed (FLUSH_DELAY times the
requests per second of api_bench.py: dozens). It also prints, from the
dumps' call counts, the write(2) calls and the event loop's timers
(call_later, and the instructions of the timers' runs) per request of each
variant, and the "on" count without the timers that "on" adds. Requests
come from --concurrency connections at once, so that the server's event loop
serves several per turn as it does under load; the database is seeded with
--pets pets, so that the pets page holds 50 as in api_bench.py.

    .venv/bin/python bench/metrics_instructions_bench.py     # --rounds 2 --requests 200

About a minute per round; needs valgrind (Debian's package). With
--keep-dumps DIR the counted dumps stay, for `callgrind_annotate --inclusive=yes`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import uuid
from pathlib import Path

from graphql_petstore.database.migrations import migrate
from harness.callgrind import Callgrind, calls_into, have_callgrind
from harness.cli import add_server_url
from harness.database import create_database, postgres_server
from harness.documents import scenarios
from harness.report import command_line, say, say_machine
from harness.seeding import SeedPlan, seed

# What the access lines' batches cost the event loop, by the C functions
# that callgrind sees (uvloop's; the write(2) of libc).
TIMERS = {
    "write(2)": r"^write$",
    "timers": r"uvloop_4loop_4Loop_17call_later$",
    "timer runs": r"uvloop_4loop_11TimerHandle__run$",
}
SCENARIOS = ("changePetPrice", "pets(first: 50)")
LINE_BATCHING = str(Path(__file__).resolve().parent / "harness" / "line_batching")

VARIANTS: dict[str, dict[str, str]] = {
    "off": {"PETSTORE_METRICS": "off", "PETSTORE_LOG_LEVEL": "warning"},
    "on": {},
}


async def one_round(
    url: str, variant: str, round_number: int, args: argparse.Namespace
) -> dict[str, float]:
    token = uuid.uuid4().hex
    keep = None
    if args.keep_dumps is not None:
        os.makedirs(args.keep_dumps, exist_ok=True)
        keep = os.path.join(args.keep_dumps, f"{variant}-{round_number}")
    environment = {
        **VARIANTS[variant],
        "PETSTORE_BENCH_FLUSH_DELAY": str(args.flush_delay),
        "PYTHONPATH": os.pathsep.join(
            path for path in (LINE_BATCHING, os.environ.get("PYTHONPATH")) if path
        ),
    }
    server = Callgrind(url, token, environment, keep)
    try:
        await server.server.wait_ready(within=300)
        made = await scenarios(server.server.port, token)
        chosen = {"changePetPrice": made["changePetPrice"], "pets(first: 50)": made["pets page"]}
        files = {"changePetPrice": "mutation", "pets(first: 50)": "pets"}
        counts = {}
        for name, send in chosen.items():
            await server.count(args.warmup, send, concurrency=args.concurrency)  # plans cached
            counts[name] = await server.count(
                args.requests, send, files[name], concurrency=args.concurrency
            )
            assert server.last_dump is not None
            for key, function in TIMERS.items():
                calls, instructions = calls_into(server.last_dump, function)
                counts[f"{name} {key}"] = calls / args.requests
                counts[f"{name} {key} instructions"] = instructions / args.requests
            say(
                f"  round {variant}: {name}: {counts[name]:,.0f} instructions per request; "
                + ", ".join(f"{counts[f'{name} {key}']:.2f} {key}" for key in TIMERS)
                + " per request"
            )
        return counts
    finally:
        server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_url(parser)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per variant")
    parser.add_argument("--requests", type=int, default=200, help="counted requests per scenario")
    parser.add_argument("--warmup", type=int, default=50, help="requests before counting")
    parser.add_argument("--pets", type=int, default=1000, help="pets seeded (arrivals)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="connections sending requests at once"
    )
    parser.add_argument(
        "--flush-delay",
        type=float,
        default=0.3,
        help="seconds the server's access lines wait to be written together (at full speed: "
        "line_batches.FLUSH_DELAY)",
    )
    parser.add_argument(
        "--keep-dumps",
        metavar="DIR",
        help="keep each counted dump as DIR/<variant>-<round>-<scenario>.callgrind "
        "(for callgrind_annotate)",
    )
    args = parser.parse_args()
    if not have_callgrind():
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    say_machine()
    say(command_line())
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        url = await create_database(stack, admin_url, f"petstore_callgrind_{os.getpid()}")
        await migrate(url)
        # A page of 50 pets, as api_bench.py's pets page reads (an empty
        # database's page would hold the one pet that the scenarios make).
        await seed(url, SeedPlan(args.pets, 3 * args.pets))
        results: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        for round_number in range(args.rounds):
            order = list(VARIANTS) if round_number % 2 == 0 else list(reversed(VARIANTS))
            for variant in order:
                results[variant].append(await one_round(url, variant, round_number, args))
        say("")
        for scenario in SCENARIOS:

            def median(variant: str, key: str, scenario: str = scenario) -> float:
                return statistics.median(r[f"{scenario}{key}"] for r in results[variant])

            off, on = median("off", ""), median("on", "")
            say(
                f"{scenario}: off {off:,.0f}, on {on:,.0f} instructions per request "
                f"(medians of {args.rounds} rounds); on/off {on / off:.3f} = "
                f"{100 * (on / off - 1):+.1f}%"
            )
            timers = sum(
                median("on", f" {key} instructions") - median("off", f" {key} instructions")
                for key in ("timers", "timer runs")
            )
            say(
                f"  on adds {median('on', ' write(2)') - median('off', ' write(2)'):.2f} write(2) "
                f"and {median('on', ' timers') - median('off', ' timers'):.2f} timers per request "
                f"here ({timers:,.0f} instructions in timers); without them: on/off "
                f"{(on - timers) / off:.3f} = {100 * ((on - timers) / off - 1):+.1f}%"
            )
            # The access lines' writes are the ones that "on" adds.
            writes = median("on", " write(2)") - median("off", " write(2)")
            say(
                f"  a write(2) of access lines held about {1 / writes:.0f} lines"
                if writes > 0
                else "  no write(2) of access lines while counting"
            )


if __name__ == "__main__":
    asyncio.run(main())
