"""`graphql-petstore serve`: migrate, then run the app under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from types import FrameType
from urllib.parse import urlsplit

import asyncpg
import uvicorn

from graphql_petstore.api.library_internals import HEADER_TIMEOUT_PROTOCOL
from graphql_petstore.database.api_login import api_database_url, check_login
from graphql_petstore.database.location import database_url, libpq_url
from graphql_petstore.database.migrations import migrate
from graphql_petstore.database.pooler import check_pooler
from graphql_petstore.errors import ConfigurationError
from graphql_petstore.observability.exposition import MULTIPROCESS_DIRECTORY
from graphql_petstore.observability.logs import logging_config
from graphql_petstore.settings import Settings
from graphql_petstore.tokens import DEVELOPMENT_TOKEN_NAME, development_token, token_path

logger = logging.getLogger(__name__)


def serve(settings: Settings, host: str, port: int, workers: int) -> int:
    check_port_free(host, port)
    with database_url(settings) as url:
        asyncio.run(migrate(url))
        # Everything from here on (requests, WebSockets, the event stream, the
        # doorbell) runs as petstore_api. The workers (uvicorn's child
        # processes) read their settings from the environment: hand them the
        # API's login alone, never DATABASE_URL's, and the tokens.
        api_url = asyncio.run(api_database_url(settings, url))
        asyncio.run(
            check_pooler(
                settings,
                api_url,
                "PETSTORE_API_DATABASE_URL" if settings.api_database_url else "DATABASE_URL",
            )
        )
        for replica_url in settings.read_replica_urls:
            asyncio.run(_check_replica_login(replica_url))
        os.environ["DATABASE_URL"] = os.environ["PETSTORE_API_DATABASE_URL"] = api_url
        if not settings.api_tokens:
            token = development_token(settings.data_dir)
            os.environ["PETSTORE_API_TOKENS"] = f"{DEVELOPMENT_TOKEN_NAME}:{token}"
            print(
                f"No PETSTORE_API_TOKENS set; writes accept the development token kept in "
                f"{token_path(settings.data_dir)}\n(`graphql-petstore token` prints it):\n\n"
                f"    Authorization: Bearer {token}\n\n"
                f"    export TOKEN={token}\n",
                file=sys.stderr,
                flush=True,
            )
        where = f"http://{_url_host(host)}:{port}/graphql"
        logger.info("%s: %s", "GraphiQL" if settings.graphiql else "GraphQL", where)
        # uvicorn shuts down gracefully on SIGTERM, then raises the signal again
        # with the handler that was there before it; make that handler an exit
        # that unwinds this block, so the embedded database is stopped too.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        with _metrics_shared_by(workers):
            uvicorn.run(
                "graphql_petstore.app:create_app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                # Applied in every worker: our format, our level, for uvicorn's lines too.
                log_config=logging_config(settings.log_format, settings.log_level),
                log_level=settings.log_level,
                access_log=False,
                # No "server: uvicorn" on every response: it tells a client
                # nothing it needs, and costs each response a header.
                server_header=False,
                timeout_graceful_shutdown=5,
                # A WebSocket message obeys the limit of an HTTP body (1009
                # beyond it; middleware.WebSocketLimitMiddleware says the same).
                ws_max_size=settings.max_body_bytes,
                # uvicorn's own protocol, with a timeout for the request line
                # and headers (slowloris; see library_internals).
                http=HEADER_TIMEOUT_PROTOCOL,
            )
    return 0


@contextlib.contextmanager
def _metrics_shared_by(workers: int) -> Iterator[None]:
    """With several workers, prometheus-client's multiprocess mode: each worker
    writes its values to files in a directory of its own for this run, which
    /metrics adds up. The variable must be set before a worker imports the
    library, so it is set here, before uvicorn starts them. A directory that
    the environment names already is used as it is (it must start empty)."""
    if workers == 1 or os.environ.get(MULTIPROCESS_DIRECTORY):
        yield
        return
    directory = tempfile.mkdtemp(prefix="petstore-metrics-")
    os.environ[MULTIPROCESS_DIRECTORY] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIRECTORY]
        shutil.rmtree(directory, ignore_errors=True)


def check_port_free(host: str, port: int) -> None:
    """Refuses a port that is taken before anything is printed or started
    (uvicorn would find out only after the migrations and the token)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ConfigurationError(f"--host {host}: {error.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port left in TIME_WAIT is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise ConfigurationError(
                f"port {port} on {host} is not free ({error.strerror}); choose another with --port"
            ) from None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _check_replica_login(url: str) -> None:
    """A replica serves queries as petstore_api too (the role comes over from
    the primary with everything else): one that logs in as more is refused,
    one that does not answer now is only reported (reads skip it until it
    answers)."""
    try:
        await check_login(url, "PETSTORE_READ_REPLICA_URLS")
    except (
        asyncpg.InvalidAuthorizationSpecificationError,
        asyncpg.InvalidPasswordError,
    ) as exc:
        raise ConfigurationError(
            f"PETSTORE_READ_REPLICA_URLS: a replica refused the login: {exc}"
        ) from None
    except (OSError, asyncpg.PostgresError) as exc:
        where = urlsplit(libpq_url(url))
        print(
            f"replica {where.hostname}:{where.port or 5432} does not answer now ({exc}); "
            "queries go elsewhere until it does",
            file=sys.stderr,
            flush=True,
        )


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
