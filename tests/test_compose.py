"""compose.yaml: postgres:18 and the app, which migrates it at start.

No container engine runs on the test machines, so the file is checked here
instead: its services, images, mounts and health checks, and the Containerfile
it builds the app from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = ROOT / "sql"
INIT_DIR = "/docker-entrypoint-initdb.d"
PSQL_TIMEOUT_SECONDS = 60


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def _postgres() -> dict[str, Any]:
    service: dict[str, Any] = _compose()["services"]["postgres"]
    return service


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """target -> (source, read only), from the short or the long volume syntax."""
    mounts = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *options = volume.split(":")
            mounts[target] = (source, "ro" in ",".join(options).split(","))
        else:
            mounts[volume["target"]] = (volume["source"], bool(volume.get("read_only")))
    return mounts


def test_postgres_service_runs_postgres_18() -> None:
    assert _postgres()["image"] == "postgres:18"


def test_postgres_service_creates_the_petstore_database_with_a_password() -> None:
    environment = _postgres()["environment"]
    assert environment["POSTGRES_DB"] == "petstore"
    assert environment["POSTGRES_PASSWORD"]


def test_data_lives_in_a_named_volume_at_the_postgres_18_data_root() -> None:
    source, read_only = _mounts(_postgres())["/var/lib/postgresql"]
    assert source in _compose()["volumes"]
    assert not read_only
    assert "/var/lib/postgresql/data" not in _mounts(_postgres())


def test_postgres_service_has_a_pg_isready_healthcheck() -> None:
    test = _postgres()["healthcheck"]["test"]
    command = test[1:] if test[0] in ("CMD", "CMD-SHELL") else test
    words = " ".join(command).split()
    assert words[0] == "pg_isready"
    assert words[words.index("-d") + 1] == "petstore"


def _app() -> dict[str, Any]:
    service: dict[str, Any] = _compose()["services"]["app"]
    return service


def test_app_is_built_from_the_containerfile_in_the_repository() -> None:
    build = _app()["build"]
    assert (ROOT / build["context"]).resolve() == ROOT
    assert (ROOT / build["dockerfile"]).is_file()


def test_containerfile_runs_the_server_as_a_non_root_user() -> None:
    lines = [line.split() for line in (ROOT / "Containerfile").read_text().splitlines()]
    users = [words[1] for words in lines if words and words[0] == "USER"]
    assert users, "the Containerfile sets no USER"
    assert users[-1] not in ("root", "0")
    cmd = next(" ".join(words) for words in reversed(lines) if words and words[0] == "CMD")
    assert "graphql-petstore" in cmd
    assert "serve" in cmd


def test_app_serves_against_the_postgres_service_once_it_is_healthy() -> None:
    app = _app()
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    url = app["environment"]["DATABASE_URL"]
    assert url.startswith("postgresql://")
    assert "@postgres:5432/petstore" in url
    assert app["environment"]["PETSTORE_API_TOKENS"]
    assert "serve" in app["command"]
    assert any(port.endswith(":8000") for port in app["ports"])


def test_app_has_a_healthcheck_on_readyz() -> None:
    test = " ".join(_app()["healthcheck"]["test"])
    assert "/readyz" in test


def test_sql_files_are_numbered_plain_sql_that_the_image_runs_in_order() -> None:
    entries = sorted(path.name for path in SQL_DIR.iterdir())
    # The image runs *.sh, *.sql and compressed SQL; ours are all plain SQL,
    # named so that every collation sorts them in the migrations' order.
    assert entries
    assert all(re.fullmatch(r"\d{4}_[a-z0-9_]+\.sql", name) for name in entries), entries
    numbers = [name[:4] for name in entries]
    assert len(set(numbers)) == len(numbers)


@pytest.mark.parametrize("path", sorted(SQL_DIR.glob("*.sql")), ids=lambda path: path.name)
def test_sql_file_has_no_psql_meta_commands(path: Path) -> None:
    meta = [line for line in path.read_text().splitlines() if line.lstrip().startswith("\\")]
    assert meta == []


def test_postgres_service_runs_the_init_script_that_makes_the_owner_role() -> None:
    source, read_only = _mounts(_postgres())[INIT_DIR]
    assert (ROOT / source).resolve() == ROOT / "compose" / "initdb"
    assert read_only
    assert _postgres()["environment"]["PETSTORE_OWNER_PASSWORD"]
    # tests/test_deployments.py runs the script against a real server.
    assert (ROOT / "compose" / "initdb" / "10-petstore-owner.sh").is_file()


def test_app_connects_as_the_owner_role_never_as_the_superuser() -> None:
    environment = _app()["environment"]
    assert environment["DATABASE_URL"].startswith("postgresql://petstore_owner:")
    assert not any("POSTGRES_PASSWORD" in str(value) for value in environment.values())
