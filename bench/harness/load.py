"""Virtual users that repeat one operation for a warm-up plus a measured window."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from harness.cpu import CpuMeter
from harness.results import Result

T = TypeVar("T")

# One operation of a virtual user: None when it succeeded, else an error text.
Operation = Callable[[], Awaitable[str | None]]
# A virtual user: its operation, and how to release what it holds.
User = tuple[Operation, Callable[[], Awaitable[None]]]


async def run_load(
    result: Result,
    make_user: Callable[[int], Awaitable[User]],
    warmup: float,
    meter: CpuMeter | None,
    start_at: float | None = None,
) -> Result:
    """Runs `result.concurrency` virtual users for warmup + duration and records
    the operations that complete inside the measurement window. With `start_at`
    (a time.time() value), the warm-up starts then, after the users exist."""
    users = [await make_user(i) for i in range(result.concurrency)]
    result.ready_at = time.time()
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    window_start = time.perf_counter() + warmup
    window_end = window_start + result.duration
    latencies = result.latencies

    async def user(operation: Operation) -> None:
        while True:
            t0 = time.perf_counter()
            if t0 >= window_end:
                return
            try:
                error = await operation()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            t1 = time.perf_counter()
            if error is not None:
                result.add_error(error if t1 >= window_start else f"(warm-up) {error}")
            elif window_start <= t1 <= window_end:
                latencies.append(t1 - t0)

    async def metering() -> None:
        if meter is None:
            return
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        meter.start()
        await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
        result.cpu = meter.stop()

    try:
        await asyncio.gather(metering(), *(user(operation) for operation, _ in users))
    finally:
        for _, release in users:
            await release()
    return result


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when it is installed (uvicorn[standard] brings it)."""
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coroutine)
