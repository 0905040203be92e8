"""The `graphql-petstore` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Sequence

from graphql_petstore.database.embedded import psql_executable
from graphql_petstore.database.location import database_url, libpq_url
from graphql_petstore.database.migrations import migrate
from graphql_petstore.database.roles import OWNER_ROLE
from graphql_petstore.database.seed import DEFAULT_DAYS, DEFAULT_PETS
from graphql_petstore.errors import ConfigurationError, PetstoreError
from graphql_petstore.observability.logs import configure as configure_logging
from graphql_petstore.settings import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_WORKERS, Settings

logger = logging.getLogger("graphql_petstore")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "psql":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_format, settings.log_level)
        result: int = args.run(settings, args, extra)
        return result
    except PetstoreError as exc:
        print(f"graphql-petstore: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphql-petstore",
        description="An event-sourced pet store: GraphQL on PostgreSQL.",
        epilog="With DATABASE_URL unset, an embedded PostgreSQL runs with its data "
        "under PETSTORE_DATA_DIR.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cmd = commands.add_parser("migrate", help="apply the sql/ migrations")
    cmd.set_defaults(run=_migrate)

    cmd = commands.add_parser("serve", help="migrate, then serve /graphql")
    cmd.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    cmd.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    cmd.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"processes (default {DEFAULT_WORKERS})",
    )
    cmd.set_defaults(run=_serve)

    cmd = commands.add_parser(
        "token", help="print the development token that writes accept (see serve)"
    )
    cmd.set_defaults(run=_token)

    cmd = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    cmd.set_defaults(run=_export_schema)

    cmd = commands.add_parser(
        "error-codes", help="print the documented error codes (docs/errors.md)"
    )
    cmd.set_defaults(run=_error_codes)

    cmd = commands.add_parser(
        "seed",
        help="add a realistic demo history (through the same rules as every write)",
    )
    cmd.add_argument(
        "--pets", type=int, default=DEFAULT_PETS, help=f"new pets (default {DEFAULT_PETS})"
    )
    cmd.add_argument(
        "--days",
        type=int,
        default=DEFAULT_DAYS,
        help=f"past days the history spreads over (default {DEFAULT_DAYS})",
    )
    cmd.set_defaults(run=_seed)

    cmd = commands.add_parser("verify", help="compare pets with a replay of the history")
    cmd.set_defaults(run=_verify)

    cmd = commands.add_parser("rebuild", help="rebuild pets from the history")
    cmd.set_defaults(run=_rebuild)

    cmd = commands.add_parser(
        "psql",
        help="open psql on the database; further arguments go to psql",
        description="Open psql on the database; further arguments (-c '…') go to psql.",
    )
    cmd.set_defaults(run=_psql)
    return parser


def _serve(settings: Settings, args: argparse.Namespace, extra: list[str]) -> int:
    from graphql_petstore.server import serve

    if args.workers < 1:
        raise ConfigurationError("--workers must be 1 or more")
    return serve(settings, args.host, args.port, args.workers)


def _token(settings: Settings, args: argparse.Namespace, extra: list[str]) -> int:
    from graphql_petstore.tokens import development_token

    if settings.api_tokens:
        raise ConfigurationError(
            "PETSTORE_API_TOKENS is set: writes accept its tokens, not the development token"
        )
    print(development_token(settings.data_dir))
    return 0


def _export_schema(settings: Settings, args: argparse.Namespace, extra: list[str]) -> int:
    from graphql_petstore.api.schema import create_schema

    print(create_schema(settings).as_str())
    return 0


def _error_codes(settings: Settings, args: argparse.Namespace, extra: list[str]) -> int:
    from graphql_petstore.error_codes import markdown

    print(markdown(), end="")
    return 0


def _seed(settings: Settings, args: argparse.Namespace, extra: list[str]) -> int:
    from tqdm import tqdm

    from graphql_petstore.database.seed import seed

    if args.pets < 1 or args.days < 1:
        raise ConfigurationError("--pets and --days must be 1 or more")
    with database_url(settings) as url:
        asyncio.run(migrate(url))
        with tqdm(
            total=args.days, unit="day", disable=not sys.stderr.isatty(), file=sys.stderr
        ) as bar:
            result = asyncio.run(seed(url, args.pets, args.days, progress=bar.update))
    print(
        f"added {result.pets} pets and {result.events} events over {args.days} days "
        f"in {result.seconds:.1f} s ({result.events_per_second:,.0f} events/s)"
    )
    return 0


def _verify(settings: Settings, args: argparse.Namespace, extra: list[str]) -> int:
    from graphql_petstore.database.replay import verify

    with database_url(settings) as url:
        asyncio.run(migrate(url))
        drifts = asyncio.run(verify(url, progress=sys.stderr.isatty()))
    for drift in drifts:
        print(drift)
    if drifts:
        print(f"{len(drifts)} pet(s) differ from their history", file=sys.stderr)
        return 1
    print("pets matches the history")
    return 0


def _rebuild(settings: Settings, args: argparse.Namespace, extra: list[str]) -> int:
    from graphql_petstore.database.replay import rebuild

    with database_url(settings) as url:
        asyncio.run(migrate(url))
        count = asyncio.run(rebuild(url, progress=sys.stderr.isatty()))
    print(f"rebuilt {count} pet(s) from the history")
    return 0


def _migrate(settings: Settings, args: argparse.Namespace, extra: list[str]) -> int:
    with database_url(settings) as url:
        applied = asyncio.run(migrate(url))
    if applied:
        for name in applied:
            print(f"applied {name}")
    else:
        print("database is up to date")
    return 0


def _psql(settings: Settings, args: argparse.Namespace, extra: list[str]) -> int:
    with database_url(settings) as url:
        asyncio.run(migrate(url))
        # As the owner, like the migrations: what is made by hand is owned
        # like the rest, and the owner's rights are what the session has.
        options = " ".join(filter(None, [os.environ.get("PGOPTIONS"), f"-c role={OWNER_ROLE}"]))
        return subprocess.call(
            [psql_executable(), libpq_url(url), *extra], env={**os.environ, "PGOPTIONS": options}
        )
