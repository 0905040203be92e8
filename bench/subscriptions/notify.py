"""Part 1: the cost of the per-event pg_notify in events_apply() (design §4),
as raw INSERT throughput in alternating rounds of variants of that function."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
from typing import Any

import asyncpg

from graphql_petstore.database.doorbell import ANNOUNCE_INTERVAL
from harness.cpu import CpuMeter
from harness.database import connected
from harness.raw import raw_load
from harness.report import say
from harness.results import Result
from harness.rounds import alternate, summarize

NOTIFY_RE = re.compile(r"perform\s+pg_notify\s*\(.*?\)\s*;", re.DOTALL | re.IGNORECASE)
CONSTANT_NOTIFY = "perform pg_notify('petstore_events', '');"
CONCURRENCY = 32
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


async def function_bodies(url: str) -> dict[str, str]:
    """events_apply() as migrated, without notify, and with a constant notify."""
    async with connected(url) as conn:
        original = await conn.fetchval("select pg_get_functiondef('events_apply'::regproc)")
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
    async with connected(url) as admin:

        async def measure(round_no: int, variant: str) -> Result:
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
            result = Result(
                f"{variant}. {VARIANTS[variant]}", "raw", CONCURRENCY, "cli=1", args.round
            )
            tasks = list(range(CONCURRENCY))
            try:
                await raw_load(
                    "insert", load_url, pets, tasks, CONCURRENCY, result, args.warmup, meter
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
            say(
                f"  round {round_no} {variant}: {result.rate:8.0f} events/s  "
                f"p50 {result.percentile(0.5):6.2f} ms  pg cpu {result.cpu.get('pg', 0):4.0f}%"
                f"  other {result.cpu.get('other', 0):3.0f}%  errors {result.errors}"
                + (f"  ({result.note})" if result.note else "")
            )
            for sample in result.error_samples:
                say(f"      error: {sample}")
            return result

        results = await alternate(args.rounds, list(VARIANTS), measure)
        await admin.execute(bodies["a"])  # leave the database as migrated
    return results


def say_notify_table(notify: dict[str, list[Result]]) -> None:
    say(
        f"{'NOTIFY cost (raw INSERT, concurrency 32)':<44} {'events/s':>9} "
        f"{'min':>7} {'max':>7} {'vs b':>6} {'p50 ms':>7} {'pg cpu':>6} {'other':>6}"
    )
    summaries = {v: summarize(rs) for v, rs in notify.items()}
    base = summaries["b"]
    for variant, results in notify.items():
        s = summaries[variant]
        say(
            f"{results[0].name:<44} {s.mean:>9.0f} {s.low:>7.0f} "
            f"{s.high:>7.0f} {s.ratio(base):>6.3f} {s.p50:>7.2f} "
            f"{s.cpu.get('pg', float('nan')):>5.0f}% {s.cpu.get('other', float('nan')):>5.0f}%"
        )
    ratios = {v: s.ratio(base) for v, s in summaries.items()}
    cost = 1 - ratios["a"]
    say(
        f"with/without notify (a/b): {ratios['a']:.3f} -> the per-event "
        f"notify costs {100 * cost:.1f}% of append throughput "
        f"({'MORE' if cost > 0.10 else 'less'} than the design's 10% threshold); "
        f"constant payload (c/b) {ratios['c']:.3f}; "
        f"with a listener (d/b) {ratios['d']:.3f}; "
        f"as the server appends (e/b) {ratios['e']:.3f}"
    )
    say(f"  ({notify['d'][-1].note} in the last round of d)")
