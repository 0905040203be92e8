"""py-spy over every process of the server while a scenario runs, and where
the server's busy time went."""

from __future__ import annotations

import asyncio
import math
import shutil
import sys
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path

from harness.report import say
from harness.results import Result
from harness.server import Server


def py_spy() -> str | None:
    """py-spy's path (the project's `bench` extra installs it), or None."""
    path = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return path if Path(path).exists() else None


async def profiled(
    py_spy: str, server: Server, seconds: float, output: Path, scenario: Awaitable[Result]
) -> None:
    """Runs a scenario while py-spy samples every server process, then prints
    where the server's busy time went."""
    command = [
        py_spy,
        "record",
        "--pid",
        str(server.process.pid),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        "250",
        "--format",
        "raw",
        "--duration",
        str(math.ceil(seconds)),
        "--output",
        str(output),
    ]
    spy = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    await scenario
    _, stderr = await spy.communicate()
    if spy.returncode != 0 or not _exists(output):
        say(f"  py-spy failed ({spy.returncode}): {stderr.decode(errors='replace')[-500:]}")
        return
    say(summarize_profile(output))


def _exists(path: Path) -> bool:
    # A blocking call, fine here: nothing else runs while py-spy's output is read.
    return path.exists()


# A sample belongs to the first phase one of whose frames is on its stack;
# the rest go by the package of the innermost frame.
PROFILE_PHASES = (
    ("GraphQL validation", "validate (graphql/validation/validate.py)"),
    ("GraphQL parsing", "parse (graphql/language/parser.py)"),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncConnection.execute (sqlalchemy/"),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncConnection.begin (sqlalchemy/"),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncTransaction."),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncEngine.begin (sqlalchemy/"),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncEngine.connect (sqlalchemy/"),
    ("SQLAlchemy + asyncpg (all DB calls)", "AsyncConnection.close (sqlalchemy/"),
    ("GraphQL execution (resolvers excluded)", "graphql/execution/"),
)


def summarize_profile(path: Path, top: int = 22) -> str:
    """Where the busy samples of a py-spy raw profile (`frame;frame;… count`
    per line; py-spy leaves idle samples out) went: by phase, by package of the
    innermost frame, by function (self), and inclusive shares."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    by_phase: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [name for f in stack.split(";") if (name := _frame_name(f)) is not None]
        if not frames:
            continue
        total += count
        self_time[frames[-1]] += count
        package = _package(frames[-1])
        by_package[package] += count
        phase = next(
            (label for label, marker in PROFILE_PHASES if any(marker in f for f in frames)),
            f"other: {package}",
        )
        by_phase[phase] += count
        for name in set(frames):
            inclusive[name] += count
    if total == 0:
        return "  (no busy samples)"

    def share(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    out = [f"  {total} busy samples of the server ({path}); phases:"]
    out += [f"    {share(n)}  {name}" for name, n in by_phase.most_common(12)]
    out.append("  self time by package of the innermost frame:")
    out += [f"    {share(n)}  {name}" for name, n in by_package.most_common(10)]
    out.append("  self time by function:")
    out += [f"    {share(n)}  {name}" for name, n in self_time.most_common(top)]
    out.append("  inclusive time (below the request wrappers, 2% or more):")
    out += [
        f"    {share(n)}  {name}"
        for name, n in inclusive.most_common()
        if 0.02 * total <= n <= 0.75 * total
    ][: top + 8]
    return "\n".join(out)


def _frame_name(frame: str) -> str | None:
    """'func (path/to/file.py:12)' -> 'func (to/file.py)'; process and thread
    markers are dropped."""
    frame = frame.strip()
    if frame.startswith(("process ", "thread ")) or not frame:
        return None
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def _package(frame: str) -> str:
    path = frame.rpartition(" (")[2].rstrip(")")
    if path.startswith("."):  # stdlib: lib/python3.11/asyncio/… -> .11/asyncio/…
        path = path.split("/", 1)[1] if "/" in path else path
        return "stdlib " + path.split("/")[0].removesuffix(".py")
    head = path.split("/")[0]
    if head == "<string>":
        return "generated code (<string>)"
    return head.removesuffix(".py") or path
