"""Command-line options that every benchmark spells the same way."""

from __future__ import annotations

import argparse
import os

from harness.database import DEFAULT_SERVER_URL


def add_server_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server-url",
        default=os.environ.get("PETSTORE_BENCH_SERVER_URL", DEFAULT_SERVER_URL),
        help="an admin URL of the PostgreSQL server to create the bench database on "
        f"(default {DEFAULT_SERVER_URL}, or $PETSTORE_BENCH_SERVER_URL); when unreachable, "
        "an embedded PostgreSQL runs with its data in a temporary directory under /tmp",
    )


def add_keep_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")


def int_list(text: str) -> list[int]:
    """'1,8,32' -> [1, 8, 32]."""
    return [int(part) for part in text.split(",") if part.strip()]
