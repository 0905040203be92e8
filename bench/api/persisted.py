"""api_bench --persisted-queries ROUNDS: what an automatic persisted query by
GET saves per request, against the same query POSTed as text, on the same
server, in alternating rounds.

Two reads: pet(id) (a short document with a variable) and the nested page (a
longer document without). Printed per variant: requests/s, p50, the server's
CPU per request, and the bytes of each request on the wire. A worker that
has not seen a hash yet answers PERSISTED_QUERY_NOT_FOUND once, and the user
registers it as Apollo's link would (during the warm-up, in practice).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from api.scenarios import NESTED_PAGE, POINT_READ, Bench
from harness.http_client import HttpConnection, graphql_data, persisted_query
from harness.report import HEADER, say
from harness.results import Result
from harness.rounds import alternate, summarize

VARIANTS = ("POST text", "GET hash")


async def persisted_queries(bench: Bench, concurrency: int, rounds: int) -> None:
    say(
        f"\n--persisted-queries: the same query POSTed as text vs by GET as an automatic "
        f"persisted query (its hash alone), {rounds} alternating rounds\n{HEADER}"
    )
    ids = bench.pet_ids
    documents: dict[str, tuple[str, Callable[[random.Random], dict[str, str] | None]]] = {
        "pet(id)": (POINT_READ, lambda rng: {"id": rng.choice(ids)}),
        "nested page": (NESTED_PAGE, lambda rng: None),
    }
    for name, (query, variables_for) in documents.items():
        await _compare(bench, name, query, variables_for, concurrency, rounds)


async def _compare(
    bench: Bench,
    name: str,
    query: str,
    variables_for: Callable[[random.Random], dict[str, str] | None],
    concurrency: int,
    rounds: int,
) -> None:
    requests = bench.requests

    def build(variant: str, rng: random.Random) -> bytes:
        variables = variables_for(rng)
        if variant == "GET hash":
            return requests.persisted_get(query, variables)
        return requests.graphql(query, variables)

    sizes = {v: len(build(v, random.Random(0))) for v in VARIANTS}

    async def measure(round_no: int, variant: str) -> Result:
        return await _run(bench, f"API {name} [{variant}]", concurrency, variant, build, query)

    summaries = {v: summarize(rs) for v, rs in (await alternate(rounds, VARIANTS, measure)).items()}
    for variant in VARIANTS:
        s = summaries[variant]
        cpu_ms = s.cpu.get("server", math.nan) / 100 / s.mean * 1000 if s.mean else math.nan
        say(
            f"{name} [{variant}]: {s.mean:.0f} req/s ({s.low:.0f}-{s.high:.0f}), "
            f"p50 {s.p50:.2f} ms, server CPU {cpu_ms:.3f} ms/request, "
            f"{sizes[variant]} bytes/request"
        )
    post, get = summaries["POST text"], summaries["GET hash"]
    say(
        f"{name}: GET hash / POST text = {get.ratio(post):.2f}x req/s; "
        f"{sizes['POST text'] - sizes['GET hash']} bytes less per request "
        f"({sizes['GET hash'] / sizes['POST text']:.0%} of the POST)"
    )


async def _run(
    bench: Bench,
    name: str,
    concurrency: int,
    variant: str,
    build: Callable[[str, random.Random], bytes],
    query: str,
) -> Result:
    async def request(connection: HttpConnection, rng: random.Random) -> str | None:
        status, body = await connection.request(build(variant, rng))
        if b"PERSISTED_QUERY_NOT_FOUND" in body:
            # A worker that has not seen the hash yet: register it as a
            # client's persisted-query link would, once per worker.
            status, body = await connection.request(
                bench.requests.graphql(
                    query,
                    {"id": bench.pet_ids[0]} if "$id" in query else None,
                    persisted_query(query),
                )
            )
        error, _ = graphql_data(status, body)
        return error

    return await bench.custom(name, concurrency, request)
