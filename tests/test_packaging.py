"""The wheel carries sql/ inside the package, so an installed graphql-petstore
(pip install ., the Containerfile) can migrate without the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

# The wheel is the same whatever PostgreSQL a run tests against.
pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parents[1]
SQL_FILES = sorted((ROOT / "sql").glob("*.sql"))
PIP_TIMEOUT_SECONDS = 600


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (built,) = out.glob("graphql_petstore-*.whl")
    return built


def test_wheel_contains_every_sql_file_inside_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        packaged = sorted(n for n in archive.namelist() if n.startswith("graphql_petstore/sql/"))
        assert "graphql_petstore/sql/0001_uuid_generate_v7.sql" in packaged
        assert packaged == [f"graphql_petstore/sql/{path.name}" for path in SQL_FILES]
        for path in SQL_FILES:
            assert archive.read(f"graphql_petstore/sql/{path.name}") == path.read_bytes()


def test_wheel_carries_graphiql_assets_from_the_npm_registry(wheel: Path) -> None:
    from graphql_petstore.graphiql import asset_names

    with zipfile.ZipFile(wheel) as archive:
        packaged = set(archive.namelist())
        for name in asset_names():
            assert f"graphql_petstore/graphiql/static/{name}" in packaged, name
        assert "graphql_petstore/graphiql/page.html" in packaged
        script = archive.read("graphql_petstore/graphiql/static/graphiql-3.8.3.min.js")
        assert len(script) > 1_000_000


def test_repository_keeps_no_copy_of_the_bundles() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [name for name in tracked if name.endswith((".min.js", ".umd.js", ".min.css"))]


def test_wheel_declares_the_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (entry_points,) = (n for n in archive.namelist() if n.endswith("/entry_points.txt"))
        text = archive.read(entry_points).decode()
    assert "graphql-petstore = graphql_petstore.cli:main" in text


def test_installed_wheel_migrates_from_its_packaged_sql(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "-t", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_SECONDS,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from graphql_petstore.database.migrations import load_migrations, sql_directory;"
            "print(sql_directory());"
            "print(*(m.name for m in load_migrations()))",
        ],
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    directory, names = probe.stdout.splitlines()
    assert Path(directory) == target / "graphql_petstore" / "sql"
    assert names.split() == [path.name for path in SQL_FILES]
