"""Append ceiling: price changes per second that pgbench appends through the
project's triggers, against the prototype's simpler triggers, back to back.

One command (see bench/README.md):

    .venv/bin/python bench/append_ceiling_bench.py [--rounds 3] [--seconds 10] [--clients 8,32]

On --server-url (an embedded PostgreSQL when unreachable) it makes three
databases, each seeded through its own triggers with 10,000 pets and about
60,000 events:

  project     migrated with every file of sql/;
  main        migrated with the files before --before (default 0061): the
              project as it was before the migrations under test, for a
              before/after in the same run;
  prototype   the schema of the prototype that the project grew from (an
              AFTER INSERT trigger per event type that updates `pets`, no
              checks, no locks, no ordering columns), price-change path only.

Then, in alternating rounds (the order reversed every other round), pgbench
(-M prepared, -j 2) appends one price change per transaction to a random pet
for --seconds at each --clients, as the project's own sessions do
(petstore.notify = batched: no NOTIFY per event; the prototype sends none).
It prints each round, then per variant the mean rate, its range and
PostgreSQL's CPU per append (all its processes, sampled), and the ratios to
the prototype in the same run with the issue's target (>= 0.6): at each
client count (with each round's own, their median and its bootstrap
interval: one round of either schema on a busy machine can move the ratio
of the means), and ceiling to ceiling (each schema's best mean rate over
the client counts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.appends import (
    PET_NUMBERS,
    PRICE_CHANGE_SCRIPT,
    pgbench,
    prepare_project,
    prepare_prototype,
)
from harness.cli import add_keep_database, add_server_url, int_list
from harness.cpu import SampledCpu
from harness.database import connected, create_database, postgres_processes, postgres_server
from harness.report import command_line, say, say_machine
from harness.rounds import median_interval

TARGET = 0.6


@dataclass(frozen=True)
class Round:
    variant: str
    clients: int
    tps: float
    appends: int
    failed: int
    pg_us: float  # PostgreSQL CPU per append, microseconds


def report(rounds: list[Round], clients: list[int], variants: list[str]) -> None:
    say()
    say(f"{'variant':<10} {'c':>3} {'appends/s':>10} {'min':>8} {'max':>8} {'pg us/append':>13}")
    means: dict[tuple[str, int], float] = {}
    for c in clients:
        for variant in variants:
            mine = [r for r in rounds if r.variant == variant and r.clients == c]
            rates = [r.tps for r in mine]
            means[variant, c] = statistics.fmean(rates)
            cpu = statistics.fmean(r.pg_us for r in mine)
            say(
                f"{variant:<10} {c:>3} {means[variant, c]:>10.0f} {min(rates):>8.0f} "
                f"{max(rates):>8.0f} {cpu:>13.0f}"
            )
    say()
    for c in clients:
        for variant in (v for v in variants if v != "prototype"):
            ratio = means[variant, c] / means["prototype", c]
            per_round = [
                a.tps / b.tps
                for a, b in zip(
                    (r for r in rounds if r.variant == variant and r.clients == c),
                    (r for r in rounds if r.variant == "prototype" and r.clients == c),
                    strict=True,
                )
            ]
            verdict = "meets" if ratio >= TARGET else "BELOW"
            low, high = median_interval(per_round)
            say(
                f"{variant} / prototype at c{c}: {ratio:.2f}  (rounds: "
                + ", ".join(f"{x:.2f}" for x in per_round)
                + f"; their median {statistics.median(per_round):.2f}, 95% interval "
                + f"{low:.2f}-{high:.2f}; target >= {TARGET}: {verdict})"
            )
    # Each schema's ceiling is its best mean rate over the client counts,
    # which need not be the same count for both.
    best = {v: max((means[v, c], c) for c in clients)[1] for v in variants}
    for variant in (v for v in variants if v != "prototype"):
        ratio = means[variant, best[variant]] / means["prototype", best["prototype"]]
        verdict = "meets" if ratio >= TARGET else "BELOW"
        say(
            f"{variant} / prototype, ceiling to ceiling: {ratio:.2f}  ({variant} at "
            f"c{best[variant]}, prototype at c{best['prototype']}; target >= {TARGET}: {verdict})"
        )


async def amain(args: argparse.Namespace) -> int:
    say(f"command: {command_line()}")
    say_machine()
    variants = ["project", "main", "prototype"] if args.before else ["project", "prototype"]
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        urls: dict[str, str] = {}
        for variant in variants:
            name = f"petstore_append_{variant}_{os.getpid()}"
            urls[variant] = await create_database(stack, admin_url, name, args.keep_database)
        say("seeding (through each schema's own triggers):")
        await prepare_project(urls["project"], None)
        if "main" in urls:
            await prepare_project(urls["main"], args.before)
        await prepare_prototype(urls["prototype"])
        pets: dict[str, int] = {}
        for variant, url in urls.items():
            async with connected(url) as conn:
                await conn.execute(PET_NUMBERS)
                pets[variant] = await conn.fetchval("select count(*) from bench.pet_ids")
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="append-bench-")))
        script = folder / "price_change.sql"
        script.write_text(PRICE_CHANGE_SCRIPT)
        # Each database's own backends (and the server's background processes).
        samplers: dict[str, SampledCpu | None] = {}
        for variant, url in urls.items():
            group = await postgres_processes(url)
            samplers[variant] = SampledCpu(group) if group is not None else None

        rounds: list[Round] = []
        for round_no in range(1, args.rounds + 1):
            order = variants if round_no % 2 else variants[::-1]
            for c in args.clients:
                for variant in order:
                    async with connected(urls[variant]) as conn:
                        await conn.execute("checkpoint")
                    tps, appends, failed, cpu = await pgbench(
                        urls[variant], script, c, args.seconds, pets[variant], samplers[variant]
                    )
                    pg_us = cpu / 100 * args.seconds / appends * 1e6 if appends else float("nan")
                    rounds.append(Round(variant, c, tps, appends, failed, pg_us))
                    say(
                        f"round {round_no} c{c:<3} {variant:<10} {tps:8.0f} appends/s "
                        f"{pg_us:6.0f} us PostgreSQL CPU per append, {failed} failed"
                    )
        report(rounds, args.clients, variants)
        return 1 if any(r.failed for r in rounds) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_url(parser)
    add_keep_database(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="per pgbench run")
    parser.add_argument("--clients", type=int_list, default=[8, 32], help="e.g. 8,32")
    parser.add_argument(
        "--before",
        default="0061",
        help="also measure the project migrated with the sql/ files before this prefix "
        "(default 0061: before the checks moved into the triggers); '' to skip",
    )
    raise SystemExit(asyncio.run(amain(parser.parse_args())))


if __name__ == "__main__":
    main()
