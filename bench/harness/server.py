"""`graphql-petstore serve` (or another program that takes its --host, --port
and --workers) as a subprocess on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from harness.http_client import HttpConnection

# The actor name of the bench's API token (events' metadata say who wrote them).
TOKEN_NAME = "bench"


class Server:
    """`graphql-petstore serve` as a subprocess."""

    def __init__(
        self,
        url: str,
        workers: int,
        pool_size: int | None,
        token: str,
        environment: dict[str, str] | None = None,
        wrapper: list[str] | None = None,
        program: list[str] | None = None,
    ) -> None:
        self.url = url
        self.workers = workers
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="petstore-bench-server-", suffix=".log", delete=False
        )
        script = Path(sys.executable).parent / "graphql-petstore"
        command = [str(script)] if script.exists() else [sys.executable, "-m", "graphql_petstore"]
        command.append("serve")
        # `program`: another app in the server's place, with the same options
        # (bench/api/floor_app.py).
        if program is not None:
            command = program
        # `wrapper`: a program that runs the server, e.g. valgrind (one worker only).
        self.command = [
            *(wrapper or []),
            *command,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        env = {**os.environ, "DATABASE_URL": url, "PETSTORE_API_TOKENS": f"{TOKEN_NAME}:{token}"}
        if pool_size is not None:
            env["PETSTORE_POOL_SIZE"] = str(pool_size)
        env.update(environment or {})
        self.pool_size = env.get("PETSTORE_POOL_SIZE", "10 (default)")
        self.process = subprocess.Popen(
            self.command,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._root = psutil.Process(self.process.pid)

    def processes(self) -> list[psutil.Process]:
        """The whole tree: uvicorn's supervisor and its workers."""
        try:
            return [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return []

    async def wait_ready(self, within: float = 90.0) -> None:
        request = f"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n\r\n".encode()
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"the server exited with {self.process.returncode}:\n{self.tail()}"
                )
            connection = HttpConnection("127.0.0.1", self.port)
            try:
                status, _ = await connection.request(request)
                if status == 200:
                    return
            except OSError:
                pass
            finally:
                await connection.close()
            await asyncio.sleep(0.2)
        raise SystemExit(f"the server was not ready within {within:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                for process in reversed(self.processes()):
                    with contextlib.suppress(psutil.Error):
                        process.kill()
                self.process.wait(5)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
