"""Keep-alive connections spread evenly over the server's workers.

uvicorn's workers share one listening socket and the kernel decides which
accepts a connection: left alone, 7 of 8 connections can land on one worker
while the other idles, and the figure measures that luck instead of the
server. So connections on a worker that holds more than its share are
replaced until none does, as a load balancer in front of the workers would."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import psutil

from harness.cpu import Processes
from harness.http_client import HttpConnection


async def accepted_by(processes: Processes, port: int, client_ports: list[int]) -> dict[int, int]:
    """Which server process holds the server side of each client connection:
    {client port: pid}, for the connections accepted so far."""
    await asyncio.sleep(0.01)
    wanted = set(client_ports)
    owners: dict[int, int] = {}
    for process in processes():
        with contextlib.suppress(psutil.Error):
            for conn in process.net_connections(kind="tcp"):
                ours = conn.laddr and conn.laddr.port == port and conn.raddr
                if ours and conn.raddr.port in wanted:
                    owners[conn.raddr.port] = process.pid
    return owners


async def balanced_connections(
    host: str, port: int, count: int, workers: int, processes: Processes | None
) -> tuple[list[HttpConnection], str]:
    """`count` open keep-alive connections, at most ceil(count / workers) on
    any worker of the server whose process tree is `processes`; and a note of
    how they were spread ("connections per worker: 4/4"), empty when there is
    one worker."""
    connections: list[HttpConnection] = []
    ports: list[int] = []
    for _ in range(count):
        connection = HttpConnection(host, port)
        ports.append(await connection.open())
        connections.append(connection)
    if workers <= 1 or processes is None:
        return connections, ""
    share = -(-count // workers)  # the most one worker should hold
    owners: dict[int, int] = {}
    for _attempt in range(200):
        owners = await accepted_by(processes, port, ports)
        if len(owners) < len(ports):
            continue  # not all accepted yet
        held: Counter[int] = Counter()
        replace = []
        for index, local in enumerate(ports):
            held[owners[local]] += 1
            if held[owners[local]] > share:
                replace.append(index)
        if not replace:
            break
        for index in replace:
            await connections[index].close()
            connection = HttpConnection(host, port)
            ports[index] = await connection.open()
            connections[index] = connection
    counts = Counter(owners.get(local) for local in ports)
    note = "connections per worker: " + "/".join(str(n) for _, n in counts.most_common())
    return connections, note
