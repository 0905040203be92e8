"""The ASGI application: /graphql (POST, GraphiQL on GET, WebSocket),
/healthz, /readyz and /metrics."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from graphql_petstore import gc_tuning, graphiql
from graphql_petstore.api.library_internals import SinkMiddleware
from graphql_petstore.api.schema import limit_rules, validation_rules
from graphql_petstore.compiled.http import CompiledGraphQL
from graphql_petstore.compiled.plans import Plans
from graphql_petstore.database.cluster_status import ClusterStatus
from graphql_petstore.database.doorbell import Doorbell
from graphql_petstore.database.engine import create_engine, create_pool
from graphql_petstore.database.horizon import HorizonWatch
from graphql_petstore.database.migrations import load_migrations
from graphql_petstore.database.routing import PRIMARY, REPLICA_CONNECT_TIMEOUT, Node, Router
from graphql_petstore.database.stream import EventStream
from graphql_petstore.deadline import GRAPHQL_PATH
from graphql_petstore.envelope import Envelope
from graphql_petstore.graphql_view import PetstoreGraphQL
from graphql_petstore.middleware import WebSocketLimitMiddleware
from graphql_petstore.observability import metrics, tracing
from graphql_petstore.observability.exposition import (
    MetricsEndpoint,
    multiprocess_directory,
    process_exiting,
)
from graphql_petstore.observability.health import ReadinessProbe
from graphql_petstore.observability.line_batches import flush_lines
from graphql_petstore.observability.operations import SUBSCRIPTION_COUNTS
from graphql_petstore.observability.sampler import SAMPLE_INTERVAL, Sampler
from graphql_petstore.persisted import PersistedDocuments, PersistedQueries, load_manifest
from graphql_petstore.settings import Settings
from graphql_petstore.sharing.registry import SubscriptionGroups

logger = logging.getLogger(__name__)


def create_app(settings: Settings, database_url: str, *, serving: bool = False) -> Starlette:
    """The app on `database_url`, which should log in as petstore_api (`serve`
    makes sure it does; see database/api_login.py). `serving`: the process
    does nothing else (`serve`'s workers), so what it holds once the app has
    started is frozen for the garbage collector (gc_tuning)."""
    metrics.set_enabled(settings.metrics)
    tracer = tracing.start()
    limits = limit_rules(settings)
    documents = PersistedDocuments(
        settings.persisted_queries,
        load_manifest(settings.trusted_documents) if settings.trusted_documents else None,
    )
    graphql = PetstoreGraphQL(
        settings,
        limits,
        documents,
        graphql_ide="graphiql" if settings.graphiql else None,
        # Queries by GET: short, cacheable URLs (automatic persisted queries).
        allow_queries_via_get=True,
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
    )
    if settings.subscription_sharing:
        graphql.subscription_groups = SubscriptionGroups(
            graphql.schema, settings, SUBSCRIPTION_COUNTS
        )
    subscription_stats = graphql.subscription_groups or SUBSCRIPTION_COUNTS
    core_schema = graphql.schema._schema  # type: ignore[attr-defined]
    endpoint = CompiledGraphQL(
        graphql, core_schema, Plans(core_schema, settings, validation_rules(limits)), settings
    )
    readiness = ReadinessProbe(database_url, load_migrations())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pooled = settings.database_pooler == "transaction"
        # How long a request waits for a connection, and a statement may run.
        bounded = functools.partial(
            create_pool,
            transaction_pooler=pooled,
            pool_timeout=settings.pool_timeout,
            statement_timeout_ms=settings.statement_timeout_ms,
        )
        bounded_engine = functools.partial(
            create_engine,
            transaction_pooler=pooled,
            pool_timeout=settings.pool_timeout,
            statement_timeout_ms=settings.statement_timeout_ms,
        )
        engine = bounded_engine(database_url, settings.pool_size)
        pool = bounded(database_url, settings.pool_size)
        replicas = [
            Node(
                f"replica-{number}",
                bounded(url, settings.pool_size, connect_timeout=REPLICA_CONNECT_TIMEOUT),
                bounded_engine(url, settings.pool_size, connect_timeout=REPLICA_CONNECT_TIMEOUT),
                replica=True,
            )
            for number, url in enumerate(settings.read_replica_urls, 1)
        ]
        status = ClusterStatus()
        router = Router(
            Node(PRIMARY, pool, engine, replica=False),
            replicas,
            consistency_wait=settings.consistency_wait,
            status=status,
        )
        doorbell = Doorbell(database_url if settings.subscriptions == "listen" else None)
        stream = EventStream(engine, doorbell, settings.poll_interval)
        horizon = HorizonWatch(pool, status, settings.horizon_warning_after)
        sampler = Sampler(engine, pool, stream, doorbell, subscription_stats)
        app.state.engine = engine
        app.state.pool = pool
        app.state.router = router
        app.state.cluster_status = status
        app.state.doorbell = doorbell
        app.state.stream = stream
        app.state.sampler = sampler
        with tracing.untraced():  # their tasks inherit it
            await doorbell.start()
            await stream.start()
            await router.start()
            await horizon.start()
            if graphql.subscription_groups is not None:
                graphql.subscription_groups.start()
        if settings.metrics:
            # Other workers' values reach /metrics only through their files.
            sampler.start(every=SAMPLE_INTERVAL if multiprocess_directory() else None)
        if serving:
            gc_tuning.after_startup()
        try:
            yield
        finally:
            await sampler.stop()
            if graphql.subscription_groups is not None:
                await graphql.subscription_groups.stop()
            await horizon.stop()
            await router.stop()
            await stream.stop()
            await doorbell.stop()
            await pool.close()
            await engine.dispose()
            for node in replicas:
                await node.pool.close()
                await node.engine.dispose()
            process_exiting()
            flush_lines()  # the access lines that wait for their write
            if tracer is not None:
                tracer.flush()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        readiness_now = await readiness.check()
        if not readiness_now.ready:
            logger.warning("readyz: not ready: %s", readiness_now.body.get("reason"))
        return JSONResponse(readiness_now.body, readiness_now.status_code)

    persisted = PersistedQueries(endpoint, documents)
    routes = [
        # HTTP requests to /graphql reach it past the router (PetstoreApp).
        Route(GRAPHQL_PATH, persisted, methods=["GET", "POST"]),
        WebSocketRoute(GRAPHQL_PATH, graphql),
        *(
            [Route(f"{graphiql.ASSETS_PATH}/{{name}}", graphiql.serve_asset)]
            if settings.graphiql
            else []
        ),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
    ]
    if settings.metrics:
        routes.append(Route("/metrics", MetricsEndpoint(settings.metrics_token).serve))
    middleware = [] if tracer is None else [tracer.middleware()]
    middleware += [
        # Shared subscriptions write their frames to the socket it finds.
        Middleware(SinkMiddleware),
        Middleware(Envelope, settings=settings),
        Middleware(
            WebSocketLimitMiddleware,
            max_connections=settings.max_websockets,
            max_message_bytes=settings.max_body_bytes,
        ),
    ]
    app = PetstoreApp(routes=routes, middleware=middleware, lifespan=lifespan)
    app.graphql_http = persisted
    for layer in reversed(middleware):
        if layer.cls not in _WEBSOCKET_ONLY:  # type: ignore[comparison-overlap]
            app.graphql_http = layer.cls(app.graphql_http, *layer.args, **layer.kwargs)
    app.state.compiled = endpoint
    return app


class PetstoreApp(Starlette):
    """The app. A GraphQL request over HTTP goes through the middleware
    straight to its endpoint, past Starlette's error and exception
    middleware and its router: the route is known from the path and method,
    the envelope answers an unexpected error with a 500 (as
    Starlette's ServerErrorMiddleware would), and those three layers cost a
    point read 6% of its instructions (bench/request_path_bench.py).
    Everything else (WebSockets, other paths and methods, the lifespan) goes
    through Starlette as usual."""

    graphql_http: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == GRAPHQL_PATH
            and scope["method"] in _GRAPHQL_METHODS
        ):
            scope["app"] = self
            await self.graphql_http(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


# Middleware that acts on WebSockets alone, left out of the HTTP path.
_WEBSOCKET_ONLY = (SinkMiddleware, WebSocketLimitMiddleware)
# What the /graphql route accepts (HEAD: as Starlette adds it beside GET).
_GRAPHQL_METHODS = frozenset({"GET", "HEAD", "POST"})


def create_app_from_env() -> Starlette:
    """The uvicorn factory of `serve`: PETSTORE_API_DATABASE_URL is set by then."""
    settings = Settings.from_env()
    if not settings.api_database_url:
        raise RuntimeError("PETSTORE_API_DATABASE_URL must be set for the application factory")
    return create_app(settings, settings.api_database_url, serving=True)
