"""The ASGI application: /graphql (POST, GraphiQL on GET, WebSocket),
/healthz, /readyz and /metrics."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from graphql.validation import ASTValidationRule
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from graphql_petstore import error_codes, graphiql
from graphql_petstore.api import retryable
from graphql_petstore.api.context import Context, anonymous_read_refused
from graphql_petstore.api.library_internals import HTTP_OPERATION_TYPES
from graphql_petstore.api.schema import create_schema, limit_rules, validation_rules
from graphql_petstore.api.websocket_protocol import (
    LegacyWSHandler,
    TransportWSHandler,
    Uninitialised,
)
from graphql_petstore.compiled.http import CompiledGraphQL
from graphql_petstore.compiled.plans import Plans
from graphql_petstore.database.cluster_status import ClusterStatus
from graphql_petstore.database.consistency import TOKEN_INIT_KEY, MalformedTokenError, parse_token
from graphql_petstore.database.doorbell import Doorbell
from graphql_petstore.database.engine import create_engine, create_pool
from graphql_petstore.database.horizon import HorizonWatch
from graphql_petstore.database.migrations import load_migrations
from graphql_petstore.database.routing import PRIMARY, REPLICA_CONNECT_TIMEOUT, Node, Router
from graphql_petstore.database.stream import EventStream
from graphql_petstore.deadline import RequestDeadlineMiddleware
from graphql_petstore.json_output import encode
from graphql_petstore.middleware import (
    BodySizeLimitMiddleware,
    ConsistencyTokenMiddleware,
    RequestIdMiddleware,
    WebSocketLimitMiddleware,
)
from graphql_petstore.observability import metrics, tracing
from graphql_petstore.observability.exposition import (
    MetricsEndpoint,
    multiprocess_directory,
    process_exiting,
)
from graphql_petstore.observability.health import ReadinessProbe
from graphql_petstore.observability.operations import SUBSCRIPTION_COUNTS
from graphql_petstore.observability.requests import ObservabilityMiddleware
from graphql_petstore.observability.sampler import SAMPLE_INTERVAL, Sampler
from graphql_petstore.persisted import PersistedDocuments, PersistedQueries, load_manifest
from graphql_petstore.settings import Settings
from graphql_petstore.sharing.registry import SubscriptionGroups

logger = logging.getLogger(__name__)

EXAMPLE_QUERY = """\
# Welcome to graphql-petstore. Run this with Ctrl-Enter.
# Writes need a header (see Headers below): {"Authorization": "Bearer <token>"}
query AvailablePets {
  pets(filter: {status: [AVAILABLE]}, first: 10) {
    edges {
      node {
        id
        name
        species
        price
        status
        history(first: 5) {
          nodes { type createdAt ... on PetPriceChange { oldPrice newPrice } }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}

# mutation Arrive {
#   recordPetArrival(input: {name: "Fluffy", species: "Cat", price: "100.00"}) {
#     event { id type createdAt }
#     pet { id name status price version }
#     userErrors { code message field }
#   }
# }
"""


def subscription_over_http() -> GraphQLError:
    return GraphQLError(
        "subscriptions are served over a WebSocket on this same URL (graphql-transport-ws or "
        "graphql-ws), not over plain HTTP",
        extensions={"code": error_codes.SUBSCRIPTION_NEEDS_WEBSOCKET},
    )


def refusal(status: int, reason: str) -> Response:
    """strawberry's refusal of a request (a 4xx with a reason in plain
    text), in JSON with a code."""
    code = error_codes.MALFORMED_REQUEST
    if reason == "Unable to parse request body as JSON":
        reason = "the request body is not JSON in UTF-8 (or a number in it has over 4,300 digits)"
    # ASCII-escaped: the reason may quote the client's text, lone surrogates
    # included (an unknown operationName), which UTF-8 cannot encode.
    body = {"data": None, "errors": [{"message": reason, "extensions": {"code": code}}]}
    return Response(json.dumps(body).encode(), status_code=status, media_type="application/json")


GRAPHIQL_MISSING = (
    "<!doctype html><title>GraphiQL is not installed</title><p>GraphiQL's assets are not in "
    "this installation of graphql-petstore. They are put into the package when it is built "
    "(<code>pip install .</code> fetches them with npm); reinstall it, or send queries by "
    "POST to this URL.</p>"
)


class PetstoreGraphQL(GraphQL[Context, None]):
    # Shared subscriptions (graphql_petstore.sharing); None: sharing is off.
    subscription_groups: SubscriptionGroups | None = None
    # Protocol hardening (api/websocket_protocol.py) over the sharing handlers.
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        settings: Settings,
        limits: list[type[ASTValidationRule]],
        documents: PersistedDocuments,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            create_schema(settings, limits=limits, documents=documents),
            connection_init_wait_timeout=timedelta(seconds=settings.websocket_init_timeout),
            **kwargs,
        )
        self.settings = settings
        self.uninitialised = Uninitialised(
            settings.max_uninitialised_websockets, settings.websocket_init_timeout
        )
        self._ide_html = graphiql.page(EXAMPLE_QUERY)

    def encode_json(self, data: object) -> str:
        return encode(data)

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = super().create_response(response_data, sub_response)
        if retryable.failed_whole(response_data):
            response.status_code = 503
            response.headers.raw.extend(retryable.headers())
        return response

    def decode_json(self, data: str | bytes) -> object:
        # strawberry answers a JSONDecodeError with 400 (and closes a
        # WebSocket with 4400); every other way a body is not usable JSON is
        # made one: nested too deeply for the parser, not UTF-8, a number
        # too long for int() (sys.get_int_max_str_digits).
        try:
            decoded = json.loads(data)
        except RecursionError:
            raise json.JSONDecodeError("JSON nested too deeply", "", 0) from None
        except UnicodeDecodeError:
            raise json.JSONDecodeError("the body is not UTF-8", "", 0) from None
        except json.JSONDecodeError:
            raise
        except ValueError as error:
            raise json.JSONDecodeError(str(error), "", 0) from None
        if not isinstance(decoded, dict | list):
            raise json.JSONDecodeError("the request body must be a JSON object", "", 0)
        return decoded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        # strawberry's, except that a refused request is answered in JSON
        # with a code, as every other error of this server.
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:
            response = refusal(error.status_code, error.reason)
        await response(scope, receive, send)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # strawberry's own, except that a subscription over plain HTTP is a
        # typed error instead of a query that fails on its root field.
        method = request_adapter.method
        refused = anonymous_read_refused(self.settings, context.authorization)
        if refused is not None:
            return ExecutionResult(data=None, errors=[refused])
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=HTTP_OPERATION_TYPES[method],
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as error:
            raise HTTPException(400, error.as_http_error_reason()) from error
        except InvalidOperationTypeError as error:
            if error.operation_type is OperationType.SUBSCRIPTION:
                return ExecutionResult(data=None, errors=[subscription_over_http()])
            raise HTTPException(400, error.as_http_error_reason(method)) from error
        except MissingQueryError as error:
            raise HTTPException(400, "No GraphQL query found in the request") from error

    async def render_graphql_ide(self, request: Request) -> Response:
        if not graphiql.installed():
            return HTMLResponse(GRAPHIQL_MISSING, status_code=503)
        return HTMLResponse(self._ide_html)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        state = request.scope.get("state", {})
        return Context(
            engine=request.app.state.engine,
            pool=request.app.state.pool,
            settings=self.settings,
            request_id=state.get("request_id", ""),
            stream=request.app.state.stream,
            doorbell=request.app.state.doorbell,
            router=request.app.state.router,
            authorization=request.headers.get("authorization"),
            appended_event_id=state.get("appended_event_id"),
            consistency_token=state.get("consistency_token"),
            # Routed already by the compiled path, which handed the request on.
            route=state.get("route"),
        )

    async def on_ws_connect(self, context: Context) -> Any:
        # Subscriptions read the stream from the primary, which has every
        # commit: a token in connection_init has nothing to wait for. It is
        # still checked, so that a client learns of a malformed one.
        params = context.connection_params
        # A browser cannot set headers on a WebSocket: graphql-ws clients send
        # the token in connection_init's payload instead.
        given = (
            params.get("Authorization", params.get("authorization"))
            if isinstance(params, dict)
            else None
        )
        if context.authorization is None and isinstance(given, str):
            context.authorization = given
            context.__dict__.pop("reads_audit", None)
        refused = anonymous_read_refused(self.settings, context.authorization)
        if refused is not None:
            raise ConnectionRejectionError({"message": refused.message})
        token = params.get(TOKEN_INIT_KEY) if isinstance(params, dict) else None
        if token is not None:
            try:
                if not isinstance(token, str):
                    raise MalformedTokenError(repr(token))
                parse_token(token)
            except MalformedTokenError:
                raise ConnectionRejectionError(
                    {"message": f"{TOKEN_INIT_KEY} is not a token that this server made"}
                ) from None
        return await super().on_ws_connect(context)


def create_app(settings: Settings, database_url: str) -> Starlette:
    """The app on `database_url`, which should log in as petstore_api (`serve`
    makes sure it does; see database/api_login.py)."""
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
            if tracer is not None:
                tracer.flush()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        readiness_now = await readiness.check()
        if not readiness_now.ready:
            logger.warning("readyz: not ready: %s", readiness_now.body.get("reason"))
        return JSONResponse(readiness_now.body, readiness_now.status_code)

    routes = [
        Route("/graphql", PersistedQueries(endpoint, documents), methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
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
        Middleware(RequestIdMiddleware),
        Middleware(ConsistencyTokenMiddleware),
        Middleware(ObservabilityMiddleware, settings=settings),
        Middleware(RequestDeadlineMiddleware, timeout=settings.request_timeout),
        Middleware(
            BodySizeLimitMiddleware,
            max_bytes=settings.max_body_bytes,
            read_timeout=settings.body_read_timeout,
        ),
        Middleware(
            WebSocketLimitMiddleware,
            max_connections=settings.max_websockets,
            max_message_bytes=settings.max_body_bytes,
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.compiled = endpoint
    return app


def create_app_from_env() -> Starlette:
    """The uvicorn factory of `serve`: PETSTORE_API_DATABASE_URL is set by then."""
    settings = Settings.from_env()
    if not settings.api_database_url:
        raise RuntimeError("PETSTORE_API_DATABASE_URL must be set for the application factory")
    return create_app(settings, settings.api_database_url)
