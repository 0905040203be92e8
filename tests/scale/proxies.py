"""PgBouncer and HAProxy as the tests run them: the Debian packages' programs
(.ci/run installs them), each with a configuration written here, on a free
port, as a process of the test's own that it stops."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.scale.cluster import free_port, scratch_directory, system_user
from tests.tools import require_executable

START_TIMEOUT = 15.0


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Returns once `process` listens on `port`; stops it if it never does."""
    try:
        _until_listening(port, process, log)
    except BaseException:
        _stop(process)
        raise


def _until_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert process.poll() is None, f"exited early:\n{_tail(log)}"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        assert time.monotonic() < deadline, f"never listened on {port}:\n{_tail(log)}"
        time.sleep(0.05)


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-3000:]
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class PgBouncer:
    """PgBouncer in transaction-pooling mode in front of one PostgreSQL
    server, logging in as whatever user (and password) its clients give, the
    way docs/scaling.md configures it."""

    def __init__(
        self, server_url: str, pool_size: int = 20, ignore_startup_parameters: str = ""
    ) -> None:
        """`ignore_startup_parameters`: what PgBouncer accepts from a client
        at connect and drops (by default it refuses any it does not know)."""
        self.executable = require_executable("pgbouncer", "apt-get install pgbouncer")
        self.root = scratch_directory("petstore-pgbouncer-")
        self.port = free_port()
        self.log = self.root / "pgbouncer.log"
        server = urlsplit(server_url)
        self.users = self.root / "userlist.txt"
        # The server asks for no password here (trust): the list only names
        # who may log in through PgBouncer.
        self.users.write_text(
            "".join(f'"{user}" ""\n' for user in ("postgres", "petstore_api", "petstore_owner"))
        )
        config = self.root / "pgbouncer.ini"
        # The settings that the server sends at connect without a pooler
        # (database/pooler.py): here every server session gets them once.
        session = "connect_query='SET petstore.notify TO batched; SET jit TO off'"
        config.write_text(
            f"""[databases]
* = host={server.hostname} port={server.port} {session}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.users}
pool_mode = transaction
default_pool_size = {pool_size}
ignore_startup_parameters = {ignore_startup_parameters}
max_client_conn = 1000
logfile = {self.log}
pidfile = {self.root / "pgbouncer.pid"}
"""
        )
        user = system_user()
        for path in (self.users, config):
            if user is not None:
                os.chown(path, *_ids(user))
        # PgBouncer refuses to run as root: as the servers' user, like them.
        self.process = subprocess.Popen(
            [self.executable, str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=user,
            start_new_session=True,
        )
        _wait_for_port(self.port, self.process, self.log)
        self._user = unquote(server.username or "postgres")

    def url(self, database: str, user: str | None = None) -> str:
        return f"postgresql://{user or self._user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        _stop(self.process)
        shutil.rmtree(self.root, ignore_errors=True)


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


class HAProxy:
    """HAProxy balancing HTTP and WebSockets round robin over servers,
    checking their /readyz. A request with `X-Petstore-Server: <name>` goes to
    that server while it is up (tests use it to place a client)."""

    HEADER = "X-Petstore-Server"

    def __init__(self, servers: dict[str, int]) -> None:
        self.executable = require_executable("haproxy", "apt-get install haproxy")
        self.root = scratch_directory("petstore-haproxy-")
        self.port = free_port()
        self.log = self.root / "haproxy.log"
        backends = "\n".join(
            f"    server {name} 127.0.0.1:{port} check inter 200ms fall 1 rise 2"
            for name, port in servers.items()
        )
        placements = "\n".join(
            f"    use-server {name} if {{ req.hdr({self.HEADER}) -m str {name} }}"
            for name in servers
        )
        config = self.root / "haproxy.cfg"
        config.write_text(
            f"""global
    maxconn 2000

defaults
    mode http
    # A connection that a dead server refuses is tried on another one.
    option redispatch
    retries 3
    timeout connect 2s
    # Without it a check must be answered within `inter` (200 ms): a server
    # busy on a loaded machine would be taken out on one slow /readyz, and
    # every request sent to the other. A dead server still fails its check
    # at once (the connection is refused).
    timeout check 2s
    timeout client 60s
    timeout server 60s
    # A WebSocket is an upgraded HTTP connection: idle for as long as this.
    timeout tunnel 1h

frontend petstore
    bind 127.0.0.1:{self.port}
    default_backend servers

backend servers
    balance roundrobin
    option httpchk GET /readyz
    http-response set-header {self.HEADER} %s
{placements}
{backends}
"""
        )
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [self.executable, "-db", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_for_port(self.port, self.process, self.log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def stop(self) -> None:
        _stop(self.process)
        shutil.rmtree(self.root, ignore_errors=True)
