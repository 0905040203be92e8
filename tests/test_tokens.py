"""The development token is kept in the data folder and reused; the port is
checked before serve prints anything."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from graphql_petstore.tokens import development_token, token_path
from tests.subscriptions.support import ARRIVE, start_server

CLI = str(Path(sys.executable).with_name("graphql-petstore"))
EXPORT_LINE = re.compile(r"export TOKEN=(\S+)")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PETSTORE_") and k != "DATABASE_URL"
    }
    env["PETSTORE_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def test_development_token_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    first = development_token(tmp_path / "data")
    assert len(first) >= 32
    mode = stat.S_IMODE(token_path(tmp_path / "data").stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert development_token(tmp_path / "data") == first


def test_token_command_prints_the_kept_token(tmp_path: Path) -> None:
    kept = development_token(tmp_path)
    printed = subprocess.run(
        [CLI, "token"], env=_env(tmp_path), capture_output=True, text=True, check=True
    )
    assert printed.stdout.strip() == kept


def test_token_command_refuses_when_tokens_are_configured(tmp_path: Path) -> None:
    refused = subprocess.run(
        [CLI, "token"],
        env=_env(tmp_path, PETSTORE_API_TOKENS="ops:secret"),
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "PETSTORE_API_TOKENS is set" in refused.stderr
    assert not token_path(tmp_path).exists()


def test_serve_on_a_taken_port_fails_before_printing_a_token_or_an_address(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [CLI, "serve", "--port", str(port)],
            env=_env(tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert f"port {port} on 127.0.0.1 is not free" in result.stderr
    output = result.stdout + result.stderr
    for printed in ("Bearer", "TOKEN", "GraphiQL", "http://"):
        assert printed not in output, output
    assert not token_path(tmp_path).exists()


@pytest.mark.once
async def test_serve_accepts_the_same_token_after_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    tokens = []
    for name in ("Before", "After"):
        server = await start_server(
            database_url, tmp_path, PETSTORE_API_TOKENS="", PETSTORE_DATA_DIR=str(tmp_path)
        )
        try:
            found = EXPORT_LINE.search(server.log())
            assert found is not None, server.log()
            tokens.append(found.group(1))
            response = await server.http.post(
                "/graphql",
                json={
                    "query": ARRIVE,
                    "variables": {"input": {"name": name, "species": "Cat", "price": "1.00"}},
                },
                headers={"Authorization": f"Bearer {tokens[-1]}"},
            )
            payload = response.json()["data"]["recordPetArrival"]
            assert payload["userErrors"] == [], payload
        finally:
            await server.close()
    assert tokens[0] == tokens[1] == token_path(tmp_path).read_text().strip()
