"""Configuration: one object, read from the environment once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from graphql_petstore.errors import ConfigurationError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_WORKERS = 1
DEFAULT_POOL_SIZE = 10
DEFAULT_MAX_DEPTH = 10
DEFAULT_MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_MAX_METADATA_BYTES = 16_384
DEFAULT_MAX_QUERY_TOKENS = 2_000
# The objects an operation may return (api/cost.py): 200 pets with their
# history's default page cost 10,401; 199 pets with all their offspring
# 99,700, 200 of them 100,201; GraphiQL's introspection query 41,740.
DEFAULT_MAX_QUERY_COST = 100_000
# Seconds: a request's time limit; a statement's (PostgreSQL statement_timeout,
# by default the request's); the wait for a free database connection.
DEFAULT_REQUEST_TIMEOUT = 10.0
DEFAULT_POOL_TIMEOUT = 5.0
DEFAULT_SUBSCRIPTIONS = "listen"
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION = 100
DEFAULT_MAX_WEBSOCKETS = 2_000
DEFAULT_MAX_UNINITIALISED_WEBSOCKETS = 100
DEFAULT_WEBSOCKET_INIT_TIMEOUT = 5.0
DEFAULT_BODY_READ_TIMEOUT = 15.0
DEFAULT_HEADER_READ_TIMEOUT = 10.0
DEFAULT_SUBSCRIPTION_QUEUE = 256
DEFAULT_SUBSCRIPTION_SLOW_LIMIT = 30.0
DEFAULT_SUBSCRIPTION_LOG_INTERVAL = 60.0
DEFAULT_METRICS = True
DEFAULT_LOG_FORMAT = "auto"
DEFAULT_LOG_LEVEL = "info"
# "auto": text when standard error is a terminal, JSON lines otherwise.
LOG_FORMATS = ("auto", "text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_CONSISTENCY_WAIT = 1.0
DEFAULT_HORIZON_WARNING_AFTER = 30.0
EMBEDDED_DATABASE_NAME = "petstore"
SUBSCRIPTION_MODES = ("listen", "poll")
# "none": the server talks to PostgreSQL sessions of its own (directly, or
# through a session-pooling proxy); "transaction": through a transaction-
# pooling proxy (PgBouncer's pool_mode = transaction), where consecutive
# statements of one connection may run in different server sessions.
POOLER_MODES = ("none", "transaction")
DEFAULT_POOLER = "none"


def default_data_dir() -> Path:
    return platformdirs.user_data_path("graphql-petstore", appauthor=False)


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    # What `serve` logs in as for all its work (see database/api_login.py);
    # None: DATABASE_URL's server and database, as petstore_api.
    api_database_url: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    api_tokens: Mapping[str, str] = field(default_factory=dict)  # token -> name
    pool_size: int = DEFAULT_POOL_SIZE
    max_depth: int = DEFAULT_MAX_DEPTH
    max_page_size: int = DEFAULT_MAX_PAGE_SIZE
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_metadata_bytes: int = DEFAULT_MAX_METADATA_BYTES
    max_query_tokens: int = DEFAULT_MAX_QUERY_TOKENS
    max_query_cost: int = DEFAULT_MAX_QUERY_COST
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    # None: request_timeout.
    statement_timeout: float | None = None
    pool_timeout: float = DEFAULT_POOL_TIMEOUT
    # "listen": LISTEN/NOTIFY wakes subscriptions; "poll": they re-read every
    # poll_interval seconds (for transaction-pooling proxies). In listen mode
    # poll_interval is the safety net for events that became visible silently.
    subscriptions: str = DEFAULT_SUBSCRIPTIONS
    poll_interval: float = DEFAULT_POLL_INTERVAL
    max_subscriptions_per_connection: int = DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION
    max_websockets: int = DEFAULT_MAX_WEBSOCKETS
    # Of those, how many may be waiting for their connection_init, and for
    # how many seconds each may wait (api/websocket_protocol.py).
    max_uninitialised_websockets: int = DEFAULT_MAX_UNINITIALISED_WEBSOCKETS
    websocket_init_timeout: float = DEFAULT_WEBSOCKET_INIT_TIMEOUT
    # Seconds a request's body, and a connection's request line and headers,
    # may take to arrive (deadline.RequestLimits, server.py).
    body_read_timeout: float = DEFAULT_BODY_READ_TIMEOUT
    header_read_timeout: float = DEFAULT_HEADER_READ_TIMEOUT
    # off: every operation needs a token (UNAUTHENTICATED without one);
    # on: reads are open, but the audit fields of events (actor, requestId,
    # metadata) are null for a caller without a token.
    anonymous_reads: bool = True
    # Subscriptions whose results are necessarily the same execute once per
    # event and share the payload (graphql_petstore.sharing); off: each
    # executes on its own, as strawberry runs it.
    subscription_sharing: bool = True
    # Frames a shared subscription may have waiting to be sent; past it, it
    # reads on by itself from its own cursor.
    subscription_queue: int = DEFAULT_SUBSCRIPTION_QUEUE
    # Seconds a subscription that fell behind may take to catch up before its
    # connection is closed (code 4499).
    subscription_slow_limit: float = DEFAULT_SUBSCRIPTION_SLOW_LIMIT
    # Seconds between the INFO lines that count subscriptions (0: none).
    subscription_log_interval: float = DEFAULT_SUBSCRIPTION_LOG_INTERVAL
    # /metrics: served unless turned off; with a token, only to a client that
    # presents it as `Authorization: Bearer <token>`.
    metrics: bool = DEFAULT_METRICS
    metrics_token: str | None = None
    log_format: str = DEFAULT_LOG_FORMAT
    log_level: str = DEFAULT_LOG_LEVEL
    # Queries and mutations the compiler supports are answered by one SQL
    # statement each (graphql_petstore.compiled); off: strawberry answers all.
    compiled_operations: bool = True
    # Log each compiled statement once, when it is made (for reading the SQL).
    log_compiled_sql: bool = False
    # GraphiQL on GET /graphql (its assets served by this server).
    graphiql: bool = True
    # Automatic persisted queries (graphql_petstore.persisted).
    persisted_queries: bool = True
    # A manifest of hash -> document: when set, only those documents run.
    trusted_documents: Path | None = None
    # Streaming replicas that answer queries (database/routing.py).
    read_replica_urls: tuple[str, ...] = ()
    # Seconds a read with a consistency token waits for a replica to have
    # replayed the token's write before the primary answers it instead.
    consistency_wait: float = DEFAULT_CONSISTENCY_WAIT
    # What stands between the server and PostgreSQL (see POOLER_MODES).
    database_pooler: str = DEFAULT_POOLER
    # Seconds the event stream may be held back by one open transaction
    # before a warning names it (database/horizon.py).
    horizon_warning_after: float = DEFAULT_HORIZON_WARNING_AFTER

    @property
    def statement_timeout_ms(self) -> int:
        """PostgreSQL's statement_timeout for the server's sessions."""
        seconds = self.request_timeout if self.statement_timeout is None else self.statement_timeout
        return max(1, round(seconds * 1000))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = env.get("PETSTORE_DATA_DIR")
        pooler = _choice(env, "PETSTORE_DATABASE_POOLER", POOLER_MODES, DEFAULT_POOLER)
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            api_database_url=env.get("PETSTORE_API_DATABASE_URL") or None,
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            api_tokens=_parse_tokens(env.get("PETSTORE_API_TOKENS", "")),
            pool_size=_positive_int(env, "PETSTORE_POOL_SIZE", DEFAULT_POOL_SIZE),
            max_depth=_positive_int(env, "PETSTORE_MAX_DEPTH", DEFAULT_MAX_DEPTH),
            max_page_size=_positive_int(env, "PETSTORE_MAX_PAGE_SIZE", DEFAULT_MAX_PAGE_SIZE),
            max_body_bytes=_positive_int(env, "PETSTORE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            max_metadata_bytes=_positive_int(
                env, "PETSTORE_MAX_METADATA_BYTES", DEFAULT_MAX_METADATA_BYTES
            ),
            max_query_tokens=_positive_int(
                env, "PETSTORE_MAX_QUERY_TOKENS", DEFAULT_MAX_QUERY_TOKENS
            ),
            max_query_cost=_positive_int(env, "PETSTORE_MAX_QUERY_COST", DEFAULT_MAX_QUERY_COST),
            request_timeout=_positive_float(
                env, "PETSTORE_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT
            ),
            statement_timeout=(
                _positive_float(env, "PETSTORE_STATEMENT_TIMEOUT", DEFAULT_REQUEST_TIMEOUT)
                if env.get("PETSTORE_STATEMENT_TIMEOUT", "").strip()
                else None
            ),
            pool_timeout=_positive_float(env, "PETSTORE_POOL_TIMEOUT", DEFAULT_POOL_TIMEOUT),
            subscriptions=_subscriptions(env, pooler),
            poll_interval=_positive_float(env, "PETSTORE_POLL_INTERVAL", DEFAULT_POLL_INTERVAL),
            max_subscriptions_per_connection=_positive_int(
                env,
                "PETSTORE_MAX_SUBSCRIPTIONS_PER_CONNECTION",
                DEFAULT_MAX_SUBSCRIPTIONS_PER_CONNECTION,
            ),
            max_websockets=_positive_int(env, "PETSTORE_MAX_WEBSOCKETS", DEFAULT_MAX_WEBSOCKETS),
            max_uninitialised_websockets=_positive_int(
                env,
                "PETSTORE_MAX_UNINITIALISED_WEBSOCKETS",
                DEFAULT_MAX_UNINITIALISED_WEBSOCKETS,
            ),
            websocket_init_timeout=_positive_float(
                env, "PETSTORE_WEBSOCKET_INIT_TIMEOUT", DEFAULT_WEBSOCKET_INIT_TIMEOUT
            ),
            body_read_timeout=_positive_float(
                env, "PETSTORE_BODY_READ_TIMEOUT", DEFAULT_BODY_READ_TIMEOUT
            ),
            header_read_timeout=_positive_float(
                env, "PETSTORE_HEADER_READ_TIMEOUT", DEFAULT_HEADER_READ_TIMEOUT
            ),
            anonymous_reads=_switch(env, "PETSTORE_ANONYMOUS_READS", True),
            subscription_sharing=_switch(env, "PETSTORE_SUBSCRIPTION_SHARING", True),
            subscription_queue=_positive_int(
                env, "PETSTORE_SUBSCRIPTION_QUEUE", DEFAULT_SUBSCRIPTION_QUEUE
            ),
            subscription_slow_limit=_positive_float(
                env, "PETSTORE_SUBSCRIPTION_SLOW_LIMIT", DEFAULT_SUBSCRIPTION_SLOW_LIMIT
            ),
            subscription_log_interval=_seconds(
                env, "PETSTORE_SUBSCRIPTION_LOG_INTERVAL", DEFAULT_SUBSCRIPTION_LOG_INTERVAL
            ),
            metrics=_switch(env, "PETSTORE_METRICS", DEFAULT_METRICS),
            metrics_token=env.get("PETSTORE_METRICS_TOKEN", "").strip() or None,
            log_format=_choice(env, "PETSTORE_LOG_FORMAT", LOG_FORMATS, DEFAULT_LOG_FORMAT),
            log_level=_choice(env, "PETSTORE_LOG_LEVEL", LOG_LEVELS, DEFAULT_LOG_LEVEL),
            compiled_operations=_switch(env, "PETSTORE_COMPILED_OPERATIONS", True),
            log_compiled_sql=_switch(env, "PETSTORE_LOG_COMPILED_SQL", False),
            graphiql=_switch(env, "PETSTORE_GRAPHIQL", True),
            persisted_queries=_switch(env, "PETSTORE_PERSISTED_QUERIES", True),
            trusted_documents=_path(env, "PETSTORE_TRUSTED_DOCUMENTS"),
            read_replica_urls=_urls(env, "PETSTORE_READ_REPLICA_URLS"),
            consistency_wait=_seconds(env, "PETSTORE_CONSISTENCY_WAIT", DEFAULT_CONSISTENCY_WAIT),
            database_pooler=pooler,
            horizon_warning_after=_positive_float(
                env, "PETSTORE_HORIZON_WARNING_AFTER", DEFAULT_HORIZON_WARNING_AFTER
            ),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be greater than 0, not {value}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise ConfigurationError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigurationError(f"{name} must name a file, and {raw!r} is not one")
    return path


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A number of seconds that may be 0."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 <= value < float("inf"):
        raise ConfigurationError(f"{name} must be 0 or more seconds, not {raw!r}")
    return value


def _subscriptions(env: Mapping[str, str], pooler: str) -> str:
    """listen by default; poll by default through a transaction pooler, where
    listen cannot work: a LISTEN belongs to a session, and the pooler hands
    the session to other clients as soon as the LISTEN's transaction ends, so
    notifications would go to whoever holds it then, or nowhere."""
    default = "poll" if pooler == "transaction" else DEFAULT_SUBSCRIPTIONS
    mode = _choice(env, "PETSTORE_SUBSCRIPTIONS", SUBSCRIPTION_MODES, default)
    if mode == "listen" and pooler == "transaction":
        raise ConfigurationError(
            "PETSTORE_SUBSCRIPTIONS=listen cannot work through a transaction pooler "
            "(PETSTORE_DATABASE_POOLER=transaction): LISTEN needs a database session of its "
            "own, which the pooler gives to other clients between transactions. "
            "Set PETSTORE_SUBSCRIPTIONS=poll"
        )
    return mode


def _urls(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated PostgreSQL URLs."""
    urls = tuple(filter(None, (part.strip() for part in env.get(name, "").split(","))))
    for url in urls:
        scheme, sep, _ = url.partition("://")
        if not sep or scheme.split("+")[0] not in ("postgres", "postgresql"):
            raise ConfigurationError(
                f"{name} must be PostgreSQL URLs separated by commas; {scheme}://… is not one"
            )
    if len(set(urls)) != len(urls):
        raise ConfigurationError(f"{name} lists one URL twice")
    return urls


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    raise ConfigurationError(f"{name} must be on or off, not {raw!r}")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _parse_tokens(raw: str) -> dict[str, str]:
    """`name:token,name:token` -> {token: name}."""
    tokens: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, token = item.partition(":")
        if not sep or not name.strip() or not token.strip():
            raise ConfigurationError(
                f"PETSTORE_API_TOKENS must be name:token pairs separated by commas; "
                f"{item.split(':')[0]!r}… is not"
            )
        if token.strip() in tokens:
            raise ConfigurationError("PETSTORE_API_TOKENS lists one token twice")
        tokens[token.strip()] = name.strip()
    return tokens
