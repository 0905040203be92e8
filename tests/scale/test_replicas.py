"""Read replicas against real streaming standbys (the cluster fixture: a
primary and two hot standbys made with pg_basebackup -R): queries go to the
replicas in turn, a read with a mutation's consistency token is served by a
replica only once it has the write, else by the primary within the bound,
and a replica that stops answering is skipped until it answers again."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from graphql_petstore.database.consistency import TOKEN_HEADER
from tests.scale.cluster import Cluster, Postgres
from tests.scale.conftest import API_USER, caught_up
from tests.scale.petstore import PET, PETS, Client, petstore, serve_exits
from tests.subscriptions.support import API_TOKEN, connect, start_server

pytestmark = pytest.mark.once

WAIT = 0.5  # PETSTORE_CONSISTENCY_WAIT of these tests
REPLICAS = {"replica-1", "replica-2"}


def replica_urls(cluster: Cluster, database: str) -> tuple[str, ...]:
    return tuple(replica.url(database, API_USER) for replica in cluster.replicas)


@contextlib.asynccontextmanager
async def replay_paused(replicas: list[Postgres]) -> AsyncIterator[None]:
    """Every replica receives WAL but replays none of it until the block ends."""
    connections = [await asyncpg.connect(replica.url()) for replica in replicas]
    try:
        for conn in connections:
            await conn.execute("select pg_wal_replay_pause()")
        for conn in connections:
            await until_paused(conn)
        yield
    finally:
        for conn in connections:
            await conn.execute("select pg_wal_replay_resume()")
            await conn.close()


async def until_paused(conn: asyncpg.Connection) -> None:
    for _ in range(1000):
        if await conn.fetchval("select pg_get_wal_replay_pause_state()") == "paused":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("replay never paused")


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "strawberry"])
async def test_a_read_with_the_writes_token_is_served_by_a_replica_and_sees_the_write(
    cluster: Cluster, scale_database: str, compiled: bool
) -> None:
    async with petstore(
        cluster.primary.url(scale_database, API_USER),
        read_replica_urls=replica_urls(cluster, scale_database),
        consistency_wait=WAIT,
        compiled_operations=compiled,
    ) as client:
        answer = await client.post(
            "mutation($i: RecordPetArrivalInput!) { recordPetArrival(input: $i) "
            "{ pet { id } consistencyToken } }",
            {"i": {"name": "Rex", "species": "Dog", "price": "10.00"}},
            write=True,
        )
        assert answer.served_by == {"node": "primary"}
        pet_id = answer.data["recordPetArrival"]["pet"]["id"]
        token = answer.data["recordPetArrival"]["consistencyToken"]
        assert token.startswith("v1.")

        for _ in range(4):
            token = await client.change_price(pet_id, "11.00")
            read = await client.pet(pet_id, token)
            assert read.served_by["node"] in REPLICAS, read.body
            assert "fallbackFrom" not in read.served_by
            assert read.served_by["waitedSeconds"] <= WAIT
            assert read.data["pet"]["price"] == "11.00"
            token = await client.change_price(pet_id, "12.00")
            read = await client.post(PETS, token=token)
            assert read.served_by["node"] in REPLICAS
            assert read.data["pets"]["edges"][0]["node"]["price"] == "12.00"


_MEASURED = re.compile(rb'"(lagSeconds|waitedSeconds)":[-+0-9.eE]+')


def _without_measurements(body: bytes) -> bytes:
    return _MEASURED.sub(rb'"\1":0', body)


async def test_both_paths_answer_a_routed_read_alike(cluster: Cluster, scale_database: str) -> None:
    urls = replica_urls(cluster, scale_database)
    primary = cluster.primary.url(scale_database, API_USER)
    async with (
        petstore(primary, read_replica_urls=urls, consistency_wait=WAIT) as compiled,
        petstore(
            primary, read_replica_urls=urls, consistency_wait=WAIT, compiled_operations=False
        ) as reference,
    ):
        pet_id, token = await compiled.arrive("Rex")
        answered = compiled.app.state.compiled.answered
        for document, variables, given in (
            (PET, {"id": pet_id}, None),
            (PET, {"id": pet_id}, token),
            (PETS, {}, None),
            (PETS, {}, token),
        ):
            headers = {} if given is None else {TOKEN_HEADER: given}
            body = {"query": document, "variables": variables}
            ours = await compiled.http.post("/graphql", json=body, headers=headers)
            theirs = await reference.http.post("/graphql", json=body, headers=headers)
            assert b'"servedBy":{"node":"replica-' in ours.content
            assert _without_measurements(ours.content) == _without_measurements(theirs.content)
        assert compiled.app.state.compiled.answered == answered + 4


async def test_queries_go_to_the_replicas_in_turn_and_the_rest_to_the_primary(
    cluster: Cluster, scale_database: str
) -> None:
    async with petstore(
        cluster.primary.url(scale_database, API_USER),
        read_replica_urls=replica_urls(cluster, scale_database),
    ) as client:
        pet_id, _ = await client.arrive("Rex")
        served = [(await client.pet(pet_id)).served_by["node"] for _ in range(6)]
        assert set(served) == REPLICAS
        assert all(a != b for a, b in itertools.pairwise(served)), served
        # pet(asOf:) reads the newest history, which only the primary is sure of.
        as_of = await client.post(
            'query($id: UUID!) { pet(id: $id, asOf: "2100-01-01T00:00:00Z") { id } }',
            {"id": pet_id},
        )
        assert as_of.served_by == {"node": "primary"}
        assert as_of.data == {"pet": {"id": pet_id}}
        write = await client.post(
            "mutation($i: ChangePetPriceInput!) { changePetPrice(input: $i) { pet { price } } }",
            {"i": {"petId": pet_id, "newPrice": "2.00"}},
            write=True,
        )
        assert write.served_by == {"node": "primary"}


async def test_while_replay_is_paused_a_token_falls_back_to_the_primary_and_none_reads_stale(
    cluster: Cluster, scale_database: str
) -> None:
    async with petstore(
        cluster.primary.url(scale_database, API_USER),
        read_replica_urls=replica_urls(cluster, scale_database),
        consistency_wait=WAIT,
    ) as client:
        pet_id, _ = await client.arrive("Rex", "10.00")
        await caught_up(cluster)
        async with replay_paused(cluster.replicas):
            token = await client.change_price(pet_id, "20.00")

            with_token = await client.pet(pet_id, token)
            assert with_token.served_by["node"] == "primary"
            assert with_token.served_by["fallbackFrom"] in REPLICAS
            assert with_token.served_by["waitedSeconds"] >= WAIT
            assert with_token.data["pet"]["price"] == "20.00"

            # Without a token a replica answers, with the state it has replayed.
            without = await client.pet(pet_id)
            assert without.served_by["node"] in REPLICAS
            assert without.data["pet"]["price"] == "10.00"
            # Its lag shows once a health check has measured it.
            deadline = time.monotonic() + 15
            while (await client.pet(pet_id)).served_by.get("lagSeconds", 0) <= 0:
                assert time.monotonic() < deadline, "the replicas' lag never showed"
                await asyncio.sleep(0.2)
            lags = {s.name: s.lag_seconds for s in client.app.state.cluster_status.replicas}
            assert all(lag is not None and lag > 0 for lag in lags.values()), lags

        # Replay resumed: the token's read goes to a replica again.
        after = await client.pet(pet_id, token)
        assert after.served_by["node"] in REPLICAS
        assert after.data["pet"]["price"] == "20.00"


async def test_a_stopped_replica_is_skipped_and_queries_answer_until_it_is_back(
    cluster: Cluster, scale_database: str
) -> None:
    async with petstore(
        cluster.primary.url(scale_database, API_USER),
        read_replica_urls=replica_urls(cluster, scale_database),
        consistency_wait=WAIT,
    ) as client:
        pet_id, token = await client.arrive("Rex")
        first, second = cluster.replicas
        try:
            second.stop("fast")
            # Reads that meet the stopped replica run again elsewhere.
            for _ in range(6):
                read = await client.pet(pet_id)
                assert read.served_by["node"] in ("replica-1", "primary"), read.body
                assert read.data["pet"]["id"] == pet_id
            status = {s.name: s.up for s in client.app.state.cluster_status.replicas}
            assert status == {"replica-1": True, "replica-2": False}

            first.stop("fast")
            for use_token in (None, token):
                read = await client.pet(pet_id, use_token)
                assert read.served_by["node"] == "primary", read.body
                assert read.data["pet"]["id"] == pet_id
        finally:
            for replica in (first, second):
                if not replica.running():
                    replica.start()
        # Retried later: each is read from again once a check finds it answering.
        deadline = time.monotonic() + 20
        seen: set[str] = set()
        while seen != REPLICAS:
            assert time.monotonic() < deadline, f"only {seen} came back"
            seen.add((await client.pet(pet_id)).served_by["node"])
            seen.discard("primary")
            await asyncio.sleep(0.1)


async def test_serve_reads_from_its_replicas_and_takes_a_token_in_connection_init(
    cluster: Cluster, scale_database: str, tmp_path: Path
) -> None:
    server = await start_server(
        cluster.primary.url(scale_database),
        tmp_path,
        PETSTORE_READ_REPLICA_URLS=",".join(replica_urls(cluster, scale_database)),
    )
    try:
        client = Client(server.http, api_token=API_TOKEN)
        pet_id, token = await client.arrive("Rex")
        read = await client.pet(pet_id, token)
        assert read.served_by["node"] in REPLICAS
        assert read.data["pet"]["id"] == pet_id
        # Subscriptions read the stream from the primary: a token has nothing
        # to wait for there, but must be one.
        async with connect(server, init_payload={"consistencyToken": token}) as ws:
            stream = await ws.events(after="0")
            (event,) = await stream.take(1)
            assert event["petId"] == pet_id
        async with connect(server, init=False) as ws:
            await ws.init_unacknowledged({"consistencyToken": "v1.nope"})
            assert await ws.wait_closed() == (4403, "Forbidden")
        malformed = await client.post(PET, {"id": pet_id}, token="v2.0123")
        assert malformed.status == 400
        assert malformed.body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "Petstore-Consistency-Token" in malformed.body["errors"][0]["message"]
    finally:
        await server.close()


async def test_serve_refuses_a_replica_that_logs_in_as_more_than_petstore_api(
    cluster: Cluster, scale_database: str
) -> None:
    code, stderr = await asyncio.to_thread(
        serve_exits,
        {
            "DATABASE_URL": cluster.primary.url(scale_database),
            "PETSTORE_READ_REPLICA_URLS": cluster.replicas[0].url(scale_database, "postgres"),
        },
    )
    assert code == 2, stderr
    assert "PETSTORE_READ_REPLICA_URLS logs in as postgres, which can bypass" in stderr
