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

    .venv/bin/python bench/metrics_instructions_bench.py     # --rounds 2 --requests 200

About a minute per round; needs valgrind (Debian's package). With
--keep-dumps DIR the counted dumps stay, for `callgrind_annotate --inclusive=yes`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import os
import shutil
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Callable

from harness.cli import add_server_url
from harness.database import create_database, postgres_server
from harness.http_client import HttpConnection, Requests, graphql_data
from harness.report import command_line, say, say_machine
from harness.server import Server

VARIANTS: dict[str, dict[str, str]] = {
    "off": {"PETSTORE_METRICS": "off", "PETSTORE_LOG_LEVEL": "warning"},
    "on": {},
}
ARRIVAL = (
    'mutation { recordPetArrival(input: {name: "Cg", species: "Cat", price: "1.00"}) '
    "{ pet { id } } }"
)
CHANGE_PRICE = (
    "mutation ChangePrice($id: UUID!, $price: Decimal!) { changePetPrice(input: "
    "{petId: $id, newPrice: $price}) { event { id } userErrors { code } } }"
)
PETS_PAGE = (
    "query PetsPage { pets(first: 50, filter: {status: [AVAILABLE]}) "
    "{ nodes { id name species price status } } }"
)


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

    def control(self, *arguments: str) -> None:
        pid = str(self.server.process.pid)
        subprocess.run(["callgrind_control", *arguments, pid], check=True, capture_output=True)

    async def count(
        self, requests: int, send: Callable[[int], bytes], name: str | None = None
    ) -> float:
        """Instructions per request over `requests` requests."""
        connection = HttpConnection("127.0.0.1", self.server.port)
        try:
            self.control("--zero")
            self.control("--instr=on")
            for number in range(requests):
                status, body = await connection.request(send(number))
                problem, _ = graphql_data(status, body)
                if problem:
                    raise SystemExit(f"request failed: {problem}")
            self.control("--instr=off")
            before = set(glob.glob(self.out + "*"))
            self.control("--dump")
            for _ in range(100):
                new = set(glob.glob(self.out + "*")) - before
                if new:
                    break
                await asyncio.sleep(0.1)
            (dump,) = new
            if self.keep is not None and name is not None:
                shutil.copy(dump, f"{self.keep}-{name}.callgrind")
            return total_instructions(dump) / requests
        finally:
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


async def one_round(
    url: str, variant: str, round_number: int, args: argparse.Namespace
) -> dict[str, float]:
    token = uuid.uuid4().hex
    keep = None
    if args.keep_dumps is not None:
        os.makedirs(args.keep_dumps, exist_ok=True)
        keep = os.path.join(args.keep_dumps, f"{variant}-{round_number}")
    server = Callgrind(url, token, VARIANTS[variant], keep)
    try:
        await server.server.wait_ready(within=300)
        requests = Requests("127.0.0.1", server.server.port, token)
        connection = HttpConnection("127.0.0.1", server.server.port)
        status, body = await connection.request(requests.graphql(ARRIVAL))
        await connection.close()
        problem, data = graphql_data(status, body)
        if problem:
            raise SystemExit(problem)
        pet = data["recordPetArrival"]["pet"]["id"]

        def change_price(number: int) -> bytes:
            price = f"{number % 1000}.{number % 100:02d}"
            return requests.graphql(CHANGE_PRICE, {"id": pet, "price": price})

        page = requests.graphql(PETS_PAGE)
        scenarios: dict[str, Callable[[int], bytes]] = {
            "changePetPrice": change_price,
            "pets(first: 50)": lambda _: page,
        }
        files = {"changePetPrice": "mutation", "pets(first: 50)": "pets"}
        counts = {}
        for name, send in scenarios.items():
            await server.count(args.warmup, send)  # plans cached, pools filled
            counts[name] = await server.count(args.requests, send, files[name])
            say(f"  round {variant}: {name}: {counts[name]:,.0f} instructions per request")
        return counts
    finally:
        server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_url(parser)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per variant")
    parser.add_argument("--requests", type=int, default=200, help="counted requests per scenario")
    parser.add_argument("--warmup", type=int, default=50, help="requests before counting")
    parser.add_argument(
        "--keep-dumps",
        metavar="DIR",
        help="keep each counted dump as DIR/<variant>-<round>-<scenario>.callgrind "
        "(for callgrind_annotate)",
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    say_machine()
    say(command_line())
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        url = await create_database(stack, admin_url, f"petstore_callgrind_{os.getpid()}")
        results: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        for round_number in range(args.rounds):
            order = list(VARIANTS) if round_number % 2 == 0 else list(reversed(VARIANTS))
            for variant in order:
                results[variant].append(await one_round(url, variant, round_number, args))
        say("")
        for scenario in results["off"][0]:
            off = statistics.median(r[scenario] for r in results["off"])
            on = statistics.median(r[scenario] for r in results["on"])
            say(
                f"{scenario}: off {off:,.0f}, on {on:,.0f} instructions per request "
                f"(medians of {args.rounds} rounds); on/off {on / off:.3f} = "
                f"{100 * (on / off - 1):+.1f}%"
            )


if __name__ == "__main__":
    asyncio.run(main())
