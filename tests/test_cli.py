"""The installed `graphql-petstore` command, run as a user runs it (design §6):
with DATABASE_URL unset it starts the embedded PostgreSQL under
PETSTORE_DATA_DIR, shares it between commands running at once, keeps the data
and stops the server when the last command leaves."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from tests.database.rules import PET_COLUMNS


def _console_script() -> str | None:
    beside_python = Path(sys.executable).parent / "graphql-petstore"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("graphql-petstore")


SCRIPT = _console_script()
COMMAND_TIMEOUT_SECONDS = 120
SERVER_STOP_TIMEOUT_SECONDS = 30

pytestmark = pytest.mark.skipif(
    SCRIPT is None,
    reason="the graphql-petstore console script is not installed (pip install -e .)",
)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """An empty PETSTORE_DATA_DIR. Short, under /tmp: the embedded server puts
    its unix socket there, and socket paths are limited to about 100 bytes."""
    path = Path(tempfile.mkdtemp(prefix="ps-", dir="/tmp"))
    try:
        yield path
    finally:
        for process in _processes_mentioning(path):  # left by a failed test
            process.terminate()
        shutil.rmtree(path, ignore_errors=True)


def _environment(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PETSTORE_DATA_DIR")}
    env["PETSTORE_DATA_DIR"] = str(data_dir)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None
    return subprocess.run(
        [SCRIPT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


def _processes_mentioning(path: Path) -> list[psutil.Process]:
    """Running processes whose command line names `path` (the embedded server's
    postmaster is started with -D <data dir>/postgres)."""
    found = []
    for process in psutil.process_iter():
        try:
            if any(str(path) in part for part in process.cmdline()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return found


def _postmasters(data_dir: Path) -> list[int]:
    pgdata = str(data_dir / "postgres")
    pids = []
    for process in _processes_mentioning(data_dir):
        try:
            cmdline = process.cmdline()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if Path(cmdline[0]).name == "postgres" and pgdata in cmdline:
            pids.append(process.pid)
    return pids


def _wait_for(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _no_server_left(data_dir: Path) -> None:
    _wait_for(
        lambda: not _processes_mentioning(data_dir),
        f"the processes of {data_dir} to end",
        SERVER_STOP_TIMEOUT_SECONDS,
    )


@pytest.mark.once  # the embedded PostgreSQL, whatever the run's server
def test_migrate_applies_every_file_then_reports_up_to_date(data_dir: Path) -> None:
    env = _environment(data_dir)
    sql_files = sorted(p.name for p in (Path(__file__).parents[1] / "sql").glob("*.sql"))

    first = _run(env, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"applied {name}" for name in sql_files]

    second = _run(env, "migrate")
    assert second.returncode == 0, second.stderr
    assert second.stdout == "database is up to date\n"
    assert (data_dir / "postgres" / "PG_VERSION").read_text().strip() == "18"
    _no_server_left(data_dir)


@pytest.mark.once  # the embedded PostgreSQL, whatever the run's server
def test_psql_runs_a_command_on_the_embedded_database(data_dir: Path) -> None:
    result = _run(_environment(data_dir), "psql", "-X", "-c", "SELECT * FROM pets")
    assert result.returncode == 0, result.stderr
    header, rule, end = (result.stdout.splitlines()[i] for i in (0, 1, 2))
    assert [column.strip() for column in header.split("|")] == list(PET_COLUMNS)
    assert set(rule) <= {"-", "+"}
    assert end == "(0 rows)"
    _no_server_left(data_dir)


@pytest.mark.once  # the embedded PostgreSQL, whatever the run's server
def test_commands_running_at_once_share_one_embedded_server_that_stops_after_the_last(
    data_dir: Path,
) -> None:
    env = _environment(data_dir)
    assert SCRIPT is not None
    # A long psql session: it reads its commands from stdin until we close it.
    session = subprocess.Popen(
        [SCRIPT, "psql", "-X", "-v", "ON_ERROR_STOP=1"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # psql starts once the server is up and migrated.
        def psql_started() -> bool:
            if session.poll() is not None:
                pytest.fail(f"the first command ended early: {session.communicate()}")
            return any(p.name() == "psql" for p in psutil.Process(session.pid).children())

        _wait_for(psql_started, "the first command's psql", COMMAND_TIMEOUT_SECONDS)
        server = _postmasters(data_dir)
        assert len(server) == 1

        second = _run(
            env,
            "psql",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "INSERT INTO pet_arrived_events (pet_id, name, species, price)"
            " VALUES (uuid_generate_v7(), 'Biscuit', 'Dog', 42.00)",
            "-c",
            "SELECT name, status, version FROM pets",
        )
        assert second.returncode == 0, second.stderr
        assert "INSERT 0 1" in second.stdout
        assert " Biscuit | AVAILABLE |       1" in second.stdout

        # The second command left; the first still runs on the same server.
        assert session.poll() is None
        assert _postmasters(data_dir) == server

        out, err = session.communicate("SELECT name FROM pets;\n", timeout=COMMAND_TIMEOUT_SECONDS)
        assert session.returncode == 0, err
        assert " Biscuit" in out.splitlines()
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()

    _no_server_left(data_dir)

    # The data outlives the server: a new run starts it again and finds Biscuit.
    again = _run(env, "psql", "-X", "-A", "-t", "-c", "SELECT name FROM pets")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Biscuit\n"
    _no_server_left(data_dir)


def test_psql_uses_database_url_when_set(data_dir: Path, database_url: str) -> None:
    result = _run(
        _environment(data_dir, database_url),
        "psql",
        "-X",
        "-A",
        "-t",
        "-c",
        "select current_database(), count(*) from pets",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{urlsplit(database_url).path.lstrip('/')}|0\n"
    # No embedded server was started.
    assert list(data_dir.iterdir()) == []
