"""The committed schema.graphql is the schema the code serves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from graphql_petstore.api.schema import create_schema
from graphql_petstore.settings import Settings

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"
REGENERATE = "graphql-petstore export-schema > schema.graphql"


def console_script() -> str:
    return str(Path(sys.executable).with_name("graphql-petstore"))


def test_schema_file_matches_the_code() -> None:
    # `export-schema` prints the SDL, and print() adds one newline.
    expected = create_schema(Settings()).as_str() + "\n"
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    assert committed == expected, (
        f"schema.graphql differs from the schema the code serves; run: {REGENERATE}"
    )


def test_export_schema_prints_exactly_the_committed_file() -> None:
    result = subprocess.run(
        [console_script(), "export-schema"],
        capture_output=True,
        encoding="utf-8",
        env={k: v for k, v in os.environ.items() if not k.startswith("PETSTORE_")},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8"), (
        f"export-schema output differs from schema.graphql; run: {REGENERATE}"
    )
