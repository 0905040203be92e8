"""CPU of groups of processes (the client, the server, PostgreSQL), as % of one
core, and the memory of a process tree."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import psutil

CORES = psutil.cpu_count() or 1

T = TypeVar("T")
# Looked up again at every snapshot: processes come and go (workers, backends).
Processes = Callable[[], list[psutil.Process]]


class CpuMeter:
    """CPU seconds of groups of processes between two snapshots, as % of one core,
    plus the machine's idle share."""

    def __init__(self, groups: Mapping[str, Processes] | None = None) -> None:
        self.groups: dict[str, Processes] = dict(groups or {})
        self._start: dict[str, dict[int, float]] = {}
        self._sys_start: Any = None
        self._t0 = 0.0

    def add(self, name: str, processes: Processes) -> None:
        self.groups[name] = processes

    @staticmethod
    def _times(processes: list[psutil.Process]) -> dict[int, float]:
        times: dict[int, float] = {}
        for process in processes:
            with contextlib.suppress(psutil.Error):
                t = process.cpu_times()
                times[process.pid] = t.user + t.system + t.children_user + t.children_system
        return times

    def start(self) -> None:
        self._start = {name: self._times(get()) for name, get in self.groups.items()}
        self._sys_start = psutil.cpu_times()
        self._t0 = time.perf_counter()

    def stop(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._t0
        usage: dict[str, float] = {}
        for name, get in self.groups.items():
            before = self._start.get(name, {})
            after = self._times(get())
            used = sum(after[pid] - before[pid] for pid in after if pid in before)
            usage[name] = 100.0 * used / elapsed if elapsed else math.nan
        sys_end = psutil.cpu_times()
        total = sum(sys_end) - sum(self._sys_start)
        waiting = sys_end.idle + getattr(sys_end, "iowait", 0.0)
        waiting -= self._sys_start.idle + getattr(self._sys_start, "iowait", 0.0)
        idle = waiting / total if total else math.nan
        usage["idle"] = 100.0 * idle
        # Whatever else kept the machine busy (other programs, the kernel): a
        # large share means the run was disturbed.
        usage["other"] = max(0.0, 100.0 * (1 - idle) * CORES - sum(usage[n] for n in self.groups))
        return usage


class SampledCpu:
    """CPU seconds of a group of processes during some work, sampled every
    50 ms so that processes which start and exit within it (backends of
    connections the work opens itself) are counted too."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes

    def _sample(self, into: dict[int, float]) -> None:
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                t = process.cpu_times()
                into[process.pid] = t.user + t.system

    async def measure(self, work: Callable[[], Awaitable[T]]) -> tuple[T, float, float]:
        """The work's result, the seconds taken and the CPU (% of one core)."""
        before: dict[int, float] = {}
        self._sample(before)
        last = dict(before)
        stop = asyncio.Event()

        async def poll() -> None:
            while not stop.is_set():
                self._sample(last)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.05)

        poller = asyncio.create_task(poll())
        t0 = time.perf_counter()
        try:
            result = await work()
        finally:
            seconds = time.perf_counter() - t0
            stop.set()
            await poller
        self._sample(last)
        used = sum(cpu - before.get(pid, 0.0) for pid, cpu in last.items())
        return result, seconds, 100.0 * used / seconds


def processes(pids: Sequence[int]) -> list[psutil.Process]:
    """The processes of these pids that still exist."""
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


def rss_mib(group: Processes) -> float:
    total = 0
    for process in group():
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total / 2**20
