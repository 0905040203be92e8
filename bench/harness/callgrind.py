"""`serve --workers 1` under valgrind's callgrind, counting the instructions
the server executes for a batch of requests.

Instructions are not disturbed by other programs on a shared machine, as
throughput and CPU time are; they leave out the kernel's share (system
calls) and PostgreSQL's."""

from __future__ import annotations

import asyncio
import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable

from harness.http_client import HttpConnection, graphql_data
from harness.server import Server


class Callgrind:
    """`serve --workers 1` under callgrind, collection switched by callgrind_control."""

    def __init__(
        self, url: str, token: str, environment: dict[str, str], keep: str | None = None
    ) -> None:
        self.keep = keep  # copy each dump here under this prefix, for callgrind_annotate
        self.directory = tempfile.mkdtemp(prefix="petstore-callgrind-")
        self.out = os.path.join(self.directory, "callgrind.out")
        wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        wrapper.append(f"--callgrind-out-file={self.out}")
        self.server = Server(url, 1, None, token, environment=environment, wrapper=wrapper)
        self.last_dump: str | None = None  # of the last count()

    def control(self, *arguments: str) -> None:
        pid = str(self.server.process.pid)
        subprocess.run(["callgrind_control", *arguments, pid], check=True, capture_output=True)

    async def count(
        self,
        requests: int,
        send: Callable[[int], bytes],
        name: str | None = None,
        concurrency: int = 1,
    ) -> float:
        """Instructions per request over `requests` requests, sent by
        `concurrency` keep-alive connections at once; the dump is kept as
        <keep>-<name>.callgrind when both are given."""
        connections = [HttpConnection("127.0.0.1", self.server.port) for _ in range(concurrency)]
        each = max(requests // concurrency, 1)

        async def one_connection(number: int) -> None:
            for request in range(each):
                status, body = await connections[number].request(send(number * each + request))
                problem, _ = graphql_data(status, body)
                if problem:
                    raise SystemExit(f"request failed: {problem}")

        try:
            await one_connection(0)  # connected before counting starts
            self.control("--zero")
            self.control("--instr=on")
            await asyncio.gather(*(one_connection(n) for n in range(concurrency)))
            self.control("--instr=off")
            before = set(glob.glob(self.out + "*"))
            self.control("--dump")
            for _ in range(100):
                new = set(glob.glob(self.out + "*")) - before
                if new:
                    break
                await asyncio.sleep(0.1)
            (dump,) = new
            self.last_dump = dump
            if self.keep is not None and name is not None:
                shutil.copy(dump, f"{self.keep}-{name}.callgrind")
            return total_instructions(dump) / (each * concurrency)
        finally:
            for connection in connections:
                await connection.close()

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def total_instructions(path: str) -> int:
    with open(path, errors="replace") as dump:
        for line in dump:
            if line.startswith("totals:"):  # "summary:" stays 0 after --zero
                return int(line.split()[1])
    raise SystemExit(f"{path}: no totals")


def have_callgrind() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def calls_into(path: str, function: str) -> tuple[int, int]:
    """The calls made to the functions whose name matches the regular
    expression `function` in a dump, and the instructions spent inside those
    calls (inclusive). A callgrind dump names C functions only: Python
    functions are inside the interpreter's loop."""
    pattern = re.compile(function)
    names: dict[str, str] = {}
    calls = instructions = 0
    matching = counting = False
    with open(path, errors="replace") as dump:
        for line in dump:
            if counting:  # the line after calls=: position, inclusive cost
                instructions += int(line.split()[-1])
                counting = False
            elif line.startswith(("fn=", "cfn=")):  # one namespace of (id) names
                callee = line.startswith("c")
                reference, _, name = line[4 if callee else 3 :].rstrip("\n").partition(" ")
                if name:
                    names[reference] = name
                if callee:
                    matching = bool(pattern.search(names.get(reference, reference)))
            elif line.startswith("calls=") and matching:
                calls += int(line[6:].split()[0])
                counting = True
    return calls, instructions
