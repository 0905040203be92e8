"""Printing: the machine's state, the table of results, ratios."""

from __future__ import annotations

import math
import shlex
import sys
from collections.abc import Mapping

import psutil

from harness.cpu import CORES
from harness.results import Result

# Other programs using more than this (% of one core) disturb a measurement.
DISTURBED = 25.0

HEADER = (
    f"{'scenario':<54} {'conc':>4} {'procs':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
    f"{'errors':>6}  {'client':>6} {'server':>6} {'pg':>6} {'other':>6} {'idle':>5}"
)


def say(message: str = "") -> None:
    print(message, flush=True)


def say_machine() -> None:
    """The machine, and how busy it is before the run (measured for a second)."""
    busy = psutil.cpu_percent(interval=1.0)  # % of the whole machine
    say(
        f"machine: {CORES} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"busy before the run: {busy * CORES:.0f}% of one core"
        + ("  (WARNING: other load disturbs the figures)" if busy * CORES > 20 else "")
    )


def command_line() -> str:
    return shlex.join(sys.orig_argv)


def cpu_cell(cpu: Mapping[str, float], name: str) -> str:
    value = cpu.get(name)
    return "-" if value is None or math.isnan(value) else f"{value:.0f}%"


def disturbed(cpu: Mapping[str, float]) -> bool:
    return cpu.get("other", 0.0) > DISTURBED


def format_row(r: Result) -> str:
    """One line of the HEADER table."""
    cpu = r.cpu
    return (
        f"{r.name:<54} {r.concurrency:>4} {r.processes:>6} {r.rate:>9.1f} "
        f"{r.percentile(0.5):>8.2f} {r.percentile(0.99):>8.2f} {r.errors:>6}  "
        f"{cpu_cell(cpu, 'client'):>6} {cpu_cell(cpu, 'server'):>6} {cpu_cell(cpu, 'pg'):>6} "
        f"{cpu_cell(cpu, 'other'):>6} {cpu_cell(cpu, 'idle'):>5}"
    )


def say_result(result: Result) -> None:
    """Its row, with its note and error samples below it."""
    say(format_row(result))
    if result.note:
        say(f"      {result.note}")
    for sample in result.error_samples:
        say(f"      error: {sample}")


def ratio_line(label: str, api: Result | None, raw: Result | None, target: float) -> str:
    if api is None or raw is None or raw.rate == 0:
        return f"{label}: n/a"
    value = api.rate / raw.rate
    verdict = "meets" if value >= target else "BELOW"
    return (
        f"{label}: {api.rate:.1f} / {raw.rate:.1f} = {value:.3f}  (target >= {target}: {verdict})"
    )
