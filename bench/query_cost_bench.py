"""Issue 9's hostile documents against a real server: how long each takes to
be answered, and what the answer is.

    .venv/bin/python bench/query_cost_bench.py [--compiled off] [--max-query-cost N]

On a fresh database (petstore_cost_<pid>) on --server-url: a mother with 100
kids and 400 other pets, through the triggers; `graphql-petstore serve`; then

  nested     { pets(first: 500, filter: {motherId: <the mother>}) { nodes {
             mother { offspring { mother { offspring { id } } } } } } }
             (16.8 s and 46 MB before the cost limit; refused now)
  fragments  twenty fragments, each spreading the previous one twice
             (1.2 KB; 18 s in validation before it was linear)

each sent three times (the first plans the document), printing the HTTP
status, the first error's code and the milliseconds taken, and the server's
RSS at the end. --max-query-cost raises the budget, to see what the cost
limit prevents.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import time

from graphql_petstore.database.migrations import migrate
from harness.cli import add_server_url
from harness.database import connected, create_database, postgres_server
from harness.http_client import HttpConnection, Requests
from harness.report import command_line, say, say_machine
from harness.server import Server

KIDS = 100
OTHERS = 400
ROUNDS = 3


def nested(mother: str) -> str:
    return (
        f'{{ pets(first: 500, filter: {{motherId: "{mother}"}}) '
        "{ nodes { mother { offspring { mother { offspring { id } } } } } } }"
    )


def fragments(count: int = 20) -> str:
    lines = [f"query {{ pets(first: 1) {{ nodes {{ ...F{count} }} }} }}"]
    lines.append("fragment F0 on Pet { id name }")
    lines += [
        f"fragment F{i} on Pet {{ id name species ...F{i - 1} ...F{i - 1} }}"
        for i in range(1, count + 1)
    ]
    return "\n".join(lines)


async def seed(url: str) -> str:
    async with connected(url) as conn:
        mother: str = str(
            await conn.fetchval(
                "insert into pet_arrived_events (pet_id, name, species, price) "
                "values (uuid_generate_v7(), 'Mother', 'Cat', 10) returning pet_id"
            )
        )
        await conn.execute(
            "insert into pet_born_events (pet_id, mother_id, name, species, price) "
            "select uuid_generate_v7(), $1::uuid, 'Kit ' || g, 'Cat', 5 "
            "from generate_series(1, $2::int) g",
            mother,
            KIDS,
        )
        await conn.execute(
            "insert into pet_arrived_events (pet_id, name, species, price) "
            "select uuid_generate_v7(), 'Pet ' || g, 'Dog', 1 from generate_series(1, $1::int) g",
            OTHERS,
        )
    return mother


async def send(server: Server, request: bytes) -> tuple[int, bytes, float]:
    connection = HttpConnection("127.0.0.1", server.port)
    try:
        began = time.perf_counter()
        status, body = await connection.request(request)
        return status, body, (time.perf_counter() - began) * 1000
    finally:
        await connection.close()


def outcome(body: bytes) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return body[:60].decode(errors="replace")
    errors = answer.get("errors") or []
    if errors:
        extensions = errors[0].get("extensions", {})
        cost = f" (cost {extensions['cost']})" if "cost" in extensions else ""
        return f"{extensions.get('code')}{cost}"
    return f"data, {len(body)} bytes"


async def amain(args: argparse.Namespace) -> int:
    say_machine()
    async with contextlib.AsyncExitStack() as stack:
        admin_url, _ = await postgres_server(stack, args.server_url)
        url = await create_database(stack, admin_url, f"petstore_cost_{os.getpid()}")
        await migrate(url)
        mother = await seed(url)
        token = secrets.token_hex(16)
        environment = {"PETSTORE_COMPILED_OPERATIONS": args.compiled}
        if args.max_query_cost is not None:
            environment["PETSTORE_MAX_QUERY_COST"] = str(args.max_query_cost)
        server = Server(url, 1, None, token, environment)
        stack.callback(server.stop)
        await server.wait_ready()
        requests = Requests("127.0.0.1", server.port, token)
        say(f"compiled operations {args.compiled}; {KIDS} kids of one mother, {OTHERS} others")
        say(f"{'document':<10} {'bytes':>6} {'round':>5} {'status':>6} {'ms':>9}  answer")
        for name, document in (("nested", nested(mother)), ("fragments", fragments())):
            request = requests.graphql(document)
            for round_no in range(1, ROUNDS + 1):
                status, body, ms = await send(server, request)
                say(
                    f"{name:<10} {len(document):>6} {round_no:>5} {status:>6} {ms:>9.1f}  "
                    f"{outcome(body)}"
                )
        rss = sum(p.memory_info().rss for p in server.processes()) / 2**20
        say(f"server RSS at the end: {rss:.0f} MB")
        say(command_line())
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_url(parser)
    parser.add_argument("--compiled", choices=("on", "off"), default="on")
    parser.add_argument("--max-query-cost", type=int, default=None)
    raise SystemExit(asyncio.run(amain(parser.parse_args())))


if __name__ == "__main__":
    main()
