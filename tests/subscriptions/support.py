"""Helpers of the subscription suite: a real `graphql-petstore serve` process,
a graphql-transport-ws client over a real WebSocket, and writes through the
API or straight into the event tables.

Everything waits with a timeout, so that a bug fails a test instead of
hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

API_TOKEN = "subscriptions-test-token"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
RECEIVE_TIMEOUT = 15.0
PROTOCOL = "graphql-transport-ws"

EVENT_FIELDS = """
fragment EventFields on PetEvent {
  id
  type
  petId
  petVersion
  cursor
  ... on PetArrived { name price }
  ... on PetPriceChange { oldPrice newPrice }
  ... on PetSold { customerId salePrice }
  ... on PetLost { lostDate }
  ... on PetFoundAgain { foundDate }
}
"""

EVENTS_SUBSCRIPTION = (
    """
subscription($after: String, $filter: EventFilter) {
  events(after: $after, filter: $filter) { ...EventFields }
}
"""
    + EVENT_FIELDS
)

PET_CHANGED_SUBSCRIPTION = (
    """
subscription($id: UUID, $status: [PetStatus!]) {
  petChanged(id: $id, status: $status) {
    pet { id name price status version customerId lastEventId }
    event { ...EventFields }
  }
}
"""
    + EVENT_FIELDS
)

EVENTS_QUERY = (
    """
query($after: String, $first: Int, $filter: EventFilter) {
  events(after: $after, first: $first, filter: $filter) {
    edges { cursor node { ...EventFields } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + EVENT_FIELDS
)

ARRIVE = """
mutation($input: RecordPetArrivalInput!) {
  recordPetArrival(input: $input) { event { id cursor } pet { id } userErrors { code message } }
}
"""
CHANGE_PRICE = """
mutation($input: ChangePetPriceInput!) {
  changePetPrice(input: $input) { event { id cursor } userErrors { code message } }
}
"""
SELL = """
mutation($input: SellPetInput!) {
  sellPet(input: $input) { event { id cursor } userErrors { code message } }
}
"""
REPORT_LOST = """
mutation($input: ReportPetLostInput!) {
  reportPetLost(input: $input) { event { id cursor } userErrors { code message } }
}
"""
REPORT_FOUND = """
mutation($input: ReportPetFoundInput!) {
  reportPetFound(input: $input) { event { id cursor } userErrors { code message } }
}
"""


# --- the server ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """One `graphql-petstore serve` process (and its uvicorn workers)."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def log(self, tail: int | None = 6000) -> str:
        """The server's log: its last `tail` characters (for an assertion's
        message), or all of it (tail=None: to look for a line that may have
        been followed by many others)."""
        try:
            text = self.log_path.read_text(errors="replace")
            return text if tail is None else text[-tail:]
        except OSError:
            return "(no log)"

    def workers(self) -> list[psutil.Process]:
        """The processes that serve requests: the uvicorn workers when there
        are several, else the server process itself."""
        children = [
            child
            for child in psutil.Process(self.process.pid).children(recursive=True)
            if "multiprocessing.resource_tracker" not in " ".join(child.cmdline())
        ]
        return children or [psutil.Process(self.process.pid)]

    async def graphql(
        self, document: str, variables: dict[str, Any] | None = None, *, write: bool = False
    ) -> dict[str, Any]:
        """The `data` of a successful GraphQL request (errors fail the test)."""
        headers = {"Authorization": f"Bearer {API_TOKEN}"} if write else {}
        response = await self.http.post(
            "/graphql", json={"query": document, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def write(self, document: str, input: dict[str, Any]) -> dict[str, Any]:
        """A mutation that must succeed; returns its payload."""
        data = await self.graphql(document, {"input": input}, write=True)
        (payload,) = data.values()
        assert payload["userErrors"] == [], payload
        result: dict[str, Any] = payload
        return result

    async def arrive(
        self, name: str = "Rex", price: str = "10.00", pet_id: str | None = None
    ) -> str:
        input: dict[str, Any] = {"name": name, "species": "Dog", "price": price}
        if pet_id is not None:
            input["petId"] = pet_id
        payload = await self.write(ARRIVE, input)
        pet_id_written: str = payload["pet"]["id"]
        return pet_id_written

    async def change_price(self, pet_id: str, new_price: str) -> str:
        payload = await self.write(CHANGE_PRICE, {"petId": pet_id, "newPrice": new_price})
        event_id: str = payload["event"]["id"]
        return event_id

    async def sell(self, pet_id: str, sale_price: str, customer_id: str | None = None) -> str:
        customer = customer_id or str(uuid.uuid4())
        payload = await self.write(
            SELL, {"petId": pet_id, "customerId": customer, "salePrice": sale_price}
        )
        event_id: str = payload["event"]["id"]
        return event_id

    async def events_page_by_page(
        self,
        *,
        after: str = "0",
        first: int = 2,
        filter: dict[str, Any] | None = None,
        max_pages: int = 10_000,
    ) -> list[dict[str, Any]]:
        """Every event after `after`, read through the events query `first` at
        a time; checks that each edge's cursor is its node's cursor."""
        events: list[dict[str, Any]] = []
        cursor = after
        for _ in range(max_pages):
            data = await self.graphql(
                EVENTS_QUERY, {"after": cursor, "first": first, "filter": filter}
            )
            connection = data["events"]
            for edge in connection["edges"]:
                assert edge["cursor"] == edge["node"]["cursor"], edge
                events.append(edge["node"])
            assert len(connection["edges"]) <= first
            if not connection["pageInfo"]["hasNextPage"]:
                return events
            assert len(connection["edges"]) == first, connection
            cursor = connection["pageInfo"]["endCursor"]
        raise AssertionError(f"the events query did not end within {max_pages} pages")

    async def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert self.process.poll() is None, f"serve exited early:\n{self.log()}"
            try:
                response = await self.http.get("/readyz", timeout=2)
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"/readyz never answered 200:\n{self.log()}"
            await asyncio.sleep(0.1)

    async def wait_for_exit(self, within: float) -> int | None:
        """The exit code, or None if the process still runs after `within` seconds."""
        try:
            return await asyncio.to_thread(self.process.wait, within)
        except subprocess.TimeoutExpired:
            return None

    async def close(self) -> None:
        """Stops the server and whatever it started (its process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        if await self.wait_for_exit(STOP_TIMEOUT) is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.wait_for_exit(STOP_TIMEOUT)
        # uvicorn's workers are in the same group; none may outlive the test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.http.aclose()


ServerFactory = Callable[..., Awaitable[Server]]


@dataclass
class Endpoint:
    """Anything that serves /graphql (a load balancer in front of servers)."""

    graphql_url: str


def _spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    # Its own session and process group: close() ends the workers with it.
    with log_path.open("wb") as log:
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def start_server(database_url: str, log_dir: Path, *, workers: int = 1, **env: str) -> Server:
    """Starts `graphql-petstore serve` on a free port of this test's database
    and waits until /readyz answers. `env`: PETSTORE_* settings to add."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PETSTORE_") and key != "DATABASE_URL"
    }
    environment.update(
        {
            "DATABASE_URL": database_url,
            "PETSTORE_API_TOKENS": f"tester:{API_TOKEN}",
            "PETSTORE_POLL_INTERVAL": "0.5",
        }
    )
    environment.update(env)
    port = free_port()
    log_path = log_dir / f"serve-{port}.log"
    command = [
        str(Path(sys.executable).with_name("graphql-petstore")),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    process = _spawn(command, environment, log_path)
    server = Server(
        process,
        port,
        log_path,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30),
    )
    try:
        await server.wait_until_ready()
    except BaseException:
        await server.close()
        raise
    return server


# --- the WebSocket client ------------------------------------------------------------


class ConnectionClosed(AssertionError):
    """The server closed the WebSocket while a message was awaited."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"the WebSocket was closed: code {code}, reason {reason!r}")
        self.code = code
        self.reason = reason


class GraphQLWebSocket:
    """One graphql-transport-ws connection. A reader task takes every message
    off the socket and files it under its operation id, so that messages of
    several subscriptions on one connection never get lost or mixed up;
    pause() stops it reading, so that the server's sends back up."""

    def __init__(self, ws: AsyncWebSocketSession) -> None:
        self.ws = ws
        self._queues: defaultdict[str | None, asyncio.Queue[dict[str, Any]]] = defaultdict(
            asyncio.Queue
        )
        self._ids = itertools.count(1)
        self._reading = asyncio.Event()
        self._reading.set()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self._reader = asyncio.create_task(self._read(), name="ws-reader")

    async def _read(self) -> None:
        try:
            while True:
                await self._reading.wait()
                message = await self.ws.receive_json()
                if message.get("type") == "ping":
                    await self.ws.send_json({"type": "pong"})
                    continue
                if message.get("type") == "pong":
                    continue
                self._queues[message.get("id")].put_nowait(message)
        except WebSocketDisconnect as exc:
            self.close_code, self.close_reason = exc.code, exc.reason
        except Exception as exc:
            self.close_reason = f"{type(exc).__name__}: {exc}"
        finally:
            self.closed.set()

    def pause(self) -> None:
        self._reading.clear()

    def resume(self) -> None:
        self._reading.set()

    async def stop(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def message(self, op_id: str | None, within: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
        """The next message of operation `op_id` (None: connection-level)."""
        queue = self._queues[op_id]
        if not queue.empty():
            return queue.get_nowait()
        if self.closed.is_set():
            raise ConnectionClosed(self.close_code, self.close_reason)
        getter = asyncio.ensure_future(queue.get())
        closed = asyncio.ensure_future(self.closed.wait())
        done, _ = await asyncio.wait(
            {getter, closed}, timeout=within, return_when=asyncio.FIRST_COMPLETED
        )
        closed.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        if not queue.empty():  # filed just before the close
            return queue.get_nowait()
        if closed in done:
            raise ConnectionClosed(self.close_code, self.close_reason)
        raise TimeoutError(f"no message for operation {op_id} within {within}s")

    async def wait_closed(self, within: float = RECEIVE_TIMEOUT) -> tuple[int | None, str]:
        await asyncio.wait_for(self.closed.wait(), within)
        return self.close_code, self.close_reason

    async def init_unacknowledged(self, payload: dict[str, Any] | None = None) -> None:
        await self.ws.send_json({"type": "connection_init", "payload": payload or {}})

    async def init(self, payload: dict[str, Any] | None = None) -> None:
        await self.init_unacknowledged(payload)
        ack = await self.message(None)
        assert ack == {"type": "connection_ack"}, ack

    async def subscribe(
        self, field: str, document: str, variables: dict[str, Any] | None = None
    ) -> Subscription:
        op_id = str(next(self._ids))
        await self.ws.send_json(
            {
                "id": op_id,
                "type": "subscribe",
                "payload": {"query": document, "variables": variables or {}},
            }
        )
        return Subscription(self, op_id, field)

    async def events(
        self, after: str | None = None, filter: dict[str, Any] | None = None
    ) -> Subscription:
        variables: dict[str, Any] = {"after": after, "filter": filter}
        return await self.subscribe("events", EVENTS_SUBSCRIPTION, variables)

    async def pet_changed(
        self, id: str | None = None, status: list[str] | None = None
    ) -> Subscription:
        return await self.subscribe(
            "petChanged", PET_CHANGED_SUBSCRIPTION, {"id": id, "status": status}
        )


@dataclass
class Subscription:
    client: GraphQLWebSocket
    id: str
    field: str
    received: list[dict[str, Any]] = field(default_factory=list)

    async def next(self, within: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
        """The next item; an error or a completion fails the test."""
        message = await self.client.message(self.id, within)
        assert message.get("type") == "next", f"expected next, got {message}"
        payload = message["payload"]
        assert not payload.get("errors"), payload
        item: dict[str, Any] = payload["data"][self.field]
        self.received.append(item)
        return item

    async def take(
        self,
        count: int,
        within: float = RECEIVE_TIMEOUT,
        skip: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """The next `count` items (not counting those `skip` accepts), all
        within `within` seconds."""
        deadline = time.monotonic() + within
        items: list[dict[str, Any]] = []
        while len(items) < count:
            remaining = deadline - time.monotonic()
            try:
                item = await self.next(max(remaining, 0.001))
            except TimeoutError:
                raise AssertionError(
                    f"subscription {self.field} #{self.id}: {len(items)} of {count} items "
                    f"within {within}s; got {items}"
                ) from None
            if skip is None or not skip(item):
                items.append(item)
        return items

    async def expect_nothing(self, seconds: float) -> None:
        """Nothing (no item, no error, no completion) arrives for `seconds`."""
        with contextlib.suppress(TimeoutError):
            message = await self.client.message(self.id, seconds)
            raise AssertionError(f"subscription {self.field} #{self.id}: unexpected {message}")

    async def complete(self) -> None:
        await self.client.ws.send_json({"id": self.id, "type": "complete"})


@contextlib.asynccontextmanager
async def connect(
    server: Server | Endpoint,
    *,
    init: bool = True,
    keepalive: bool = True,
    receive_buffer: int | None = None,
    init_payload: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[GraphQLWebSocket]:
    """A graphql-transport-ws connection to `server` (connection_init, with
    `init_payload`, and connection_ack done unless init=False).
    `receive_buffer`: pin the socket's receive buffer to that many bytes (the
    kernel then cannot grow it), so that a client that stops reading soon
    holds the server up. `headers`: of the upgrade request."""
    options = [(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)] if receive_buffer else None
    transport = httpx.AsyncHTTPTransport(socket_options=options)
    try:
        async with (
            httpx.AsyncClient(transport=transport, timeout=10) as http,
            aconnect_ws(
                server.graphql_url,
                http,
                subprotocols=[PROTOCOL],
                keepalive_ping_interval_seconds=20 if keepalive else None,
                headers=headers or {},
            ) as ws,
        ):
            client = GraphQLWebSocket(ws)
            try:
                if init:
                    await client.init(init_payload)
                yield client
            finally:
                await client.stop()
    except BaseExceptionGroup as group:
        # httpx-ws wraps what leaves its block in an exception group; show
        # the test's own failure as it is.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


async def go_live(
    subscriptions: Iterable[Subscription],
    write_sentinel: Callable[[], Awaitable[object]],
    within: float = 20.0,
) -> None:
    """Returns once every subscription, subscribed without a starting point
    ("from now on"), has received something that `write_sentinel` wrote after
    the subscribe; from then on it must see every new event. Writes a sentinel
    every second until then: the server takes its starting point
    asynchronously, so a write right after the subscribe may come before it.
    The items received here are left in `received`; callers skip sentinels."""
    pending = list(subscriptions)
    deadline = time.monotonic() + within
    await asyncio.sleep(0.2)
    while pending:
        assert time.monotonic() < deadline, "the subscriptions never went live"
        await write_sentinel()
        round_ends = time.monotonic() + 1.0
        for subscription in list(pending):
            with contextlib.suppress(TimeoutError):
                await subscription.next(max(round_ends - time.monotonic(), 0.001))
                pending.remove(subscription)


# --- writes and reads in SQL -------------------------------------------------------------


async def sql_arrive(conn: asyncpg.Connection, name: str = "Rex", price: str = "10.00") -> str:
    """A PetArrived event INSERTed by hand; returns the pet id."""
    pet_id = await conn.fetchval(
        "insert into pet_arrived_events (pet_id, name, species, price)"
        " values (uuid_generate_v7(), $1, 'Cat', $2) returning pet_id",
        name,
        Decimal(price),
    )
    return str(pet_id)


async def sql_change_price(conn: asyncpg.Connection, pet_id: str, new_price: str) -> str:
    """A PetPriceChange INSERTed by hand (in `conn`'s transaction, if any);
    returns the event id."""
    event_id = await conn.fetchval(
        "insert into pet_price_change_events (pet_id, new_price) values ($1, $2) returning id",
        uuid.UUID(pet_id),
        Decimal(new_price),
    )
    return str(event_id)


# The doorbell's connection: asyncpg's LISTEN, then its `select 1` health check
# every few seconds. The pool's idle connections show their last ROLLBACK.
LISTENERS = """
select pid from pg_stat_activity
where datname = current_database()
  and backend_type = 'client backend'
  and pid <> pg_backend_pid()
  and application_name = 'graphql-petstore doorbell'
order by pid
"""


async def listener_pids(conn: asyncpg.Connection) -> list[int]:
    return [row["pid"] for row in await conn.fetch(LISTENERS)]


async def wait_for_listeners(
    conn: asyncpg.Connection, count: int, *, other_than: Iterable[int] = (), within: float = 15.0
) -> list[int]:
    """Waits until `count` LISTEN connections (none of them `other_than`) are
    open on this database; returns their pids."""
    excluded = set(other_than)
    deadline = time.monotonic() + within
    while True:
        pids = [pid for pid in await listener_pids(conn) if pid not in excluded]
        if len(pids) == count:
            return pids
        assert time.monotonic() < deadline, f"expected {count} listeners, found {pids}"
        await asyncio.sleep(0.1)


def ids(events: Iterable[dict[str, Any]]) -> list[str]:
    return [event["id"] for event in events]


def cursors(events: Iterable[dict[str, Any]]) -> list[str]:
    return [event["cursor"] for event in events]
