"""`graphql-petstore serve` for real: the embedded database, a generated token,
HTTP on a free port, and a clean stop on SIGTERM that takes the database down."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from graphql_petstore.graphql_view import EXAMPLE_QUERY
from tests.tools import require_executable

TOKEN_LINE = re.compile(r"Authorization: Bearer (\S+)")
STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
ARRIVE = """
mutation($input: RecordPetArrivalInput!) {
  recordPetArrival(input: $input) { pet { id name } userErrors { code } }
}
"""


@dataclass
class Server:
    process: subprocess.Popen[str]
    data_dir: Path
    url: str
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    output: list[str] = field(default_factory=list)
    token: str = ""

    def log(self) -> str:
        return "".join(self.output)[-4000:]

    def wait_for_line(self, pattern: re.Pattern[str], deadline: float) -> re.Match[str]:
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line matching {pattern.pattern!r}:\n{self.log()}"
            try:
                line = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                assert self.process.poll() is None, f"serve exited early:\n{self.log()}"
                continue
            found = pattern.search(line)
            if found:
                return found

    def wait_until_healthy(self, deadline: float) -> None:
        while True:
            assert self.process.poll() is None, f"serve exited early:\n{self.log()}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"/healthz never answered:\n{self.log()}"
            time.sleep(0.2)

    def graphql(self, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables},
            headers=headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def postgres_processes(data_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(data_dir) in cmdline and "postgres" in cmdline:
            found.append(process)
    return found


def _drain(server: Server) -> None:
    assert server.process.stdout is not None
    for line in server.process.stdout:
        server.output.append(line)
        server.lines.put(line)


@contextmanager
def serving(*args: str) -> Iterator[Server]:
    """Starts `graphql-petstore serve` with no database URL and no tokens, and
    waits until it printed its token and answers /healthz."""
    # Short: PostgreSQL's unix socket path must fit in about 100 bytes.
    data_dir = Path(tempfile.mkdtemp(prefix="ps-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PETSTORE_API_TOKENS")}
    env["PETSTORE_DATA_DIR"] = str(data_dir)
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("graphql-petstore")),
        "serve",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        [*command, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Its own process group: uvicorn's workers and helpers can be killed
        # with it, whatever state a failed test leaves them in.
        start_new_session=True,
    )
    server = Server(process, data_dir, f"http://127.0.0.1:{port}")
    reader = threading.Thread(target=_drain, args=(server,), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        server.token = server.wait_for_line(TOKEN_LINE, deadline).group(1)
        server.wait_until_healthy(deadline)
        assert postgres_processes(data_dir), "no embedded PostgreSQL runs on the data dir"
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        for leftover in postgres_processes(data_dir):
            leftover.kill()
        # The reader ends at end of file, once every process holding the pipe
        # is gone; closing the pipe under it instead would block on its lock.
        reader.join(timeout=10)
        if not reader.is_alive() and process.stdout is not None:
            process.stdout.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def stop(server: Server) -> None:
    """SIGTERM: the server exits 0 within STOP_TIMEOUT and its database is gone."""
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"serve did not stop on SIGTERM:\n{server.log()}") from None
    assert code == 0, server.log()
    deadline = time.monotonic() + 5
    while postgres_processes(server.data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert postgres_processes(server.data_dir) == [], "the embedded PostgreSQL is still running"


def arrive_and_read_back(server: Server, name: str) -> str:
    written = server.graphql(
        ARRIVE, {"input": {"name": name, "species": "Cat", "price": "10.00"}}, server.token
    )
    assert written["data"]["recordPetArrival"]["userErrors"] == [], written
    pet_id: str = written["data"]["recordPetArrival"]["pet"]["id"]
    read = server.graphql("query($id: UUID!) { pet(id: $id) { id name } }", {"id": pet_id})
    assert read == {"data": {"pet": {"id": pet_id, "name": name}}}
    return pet_id


@pytest.mark.once  # the embedded PostgreSQL, whatever the run's server
def test_serve_runs_the_embedded_database_and_stops_cleanly_on_sigterm() -> None:
    with serving() as server:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})

        ide = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"}, timeout=10)
        assert ide.status_code == 200
        assert ide.headers["content-type"].startswith("text/html")
        assert json.dumps(EXAMPLE_QUERY) in ide.text

        refused = server.graphql(
            ARRIVE, {"input": {"name": "Nope", "species": "Cat", "price": "1.00"}}
        )
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        arrive_and_read_back(server, "Fluffy")
        stop(server)


@pytest.mark.once  # the embedded PostgreSQL, whatever the run's server
def test_serve_with_two_workers_serves_writes_and_reads_from_either() -> None:
    with serving("--workers", "2") as server:
        first = arrive_and_read_back(server, "One")
        second = arrive_and_read_back(server, "Two")
        listed = server.graphql("{ pets { edges { node { id } } } }", {})
        assert [edge["node"]["id"] for edge in listed["data"]["pets"]["edges"]] == sorted(
            [first, second]
        )
        stop(server)


@pytest.mark.once
def test_readme_curl_example_works_pasted_after_serve(tmp_path: Path) -> None:
    require_executable("curl", "apt-get install curl")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", readme, re.DOTALL) if "curl -s" in b)
    with serving() as server:
        port = server.url.rsplit(":", 1)[1]
        script = block.replace(
            ".venv/bin/graphql-petstore", str(Path(sys.executable).with_name("graphql-petstore"))
        )
        env = {**os.environ, "PETSTORE_DATA_DIR": str(server.data_dir)}
        env.pop("PETSTORE_API_TOKENS", None)
        result = subprocess.run(
            ["bash", "-c", script.replace("127.0.0.1:8000", f"127.0.0.1:{port}")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)["data"]["recordPetArrival"]
    assert payload["userErrors"] == []
    assert payload["pet"]["status"] == "AVAILABLE"
