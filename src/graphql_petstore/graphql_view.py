"""The GraphQL endpoint as this server configures strawberry's ASGI view: the
schema with its limits, GraphiQL on GET (assets served from the package),
the hardened WebSocket protocol handlers over the subscription-sharing ones,
refusals answered in JSON with a code, and 503 for retryable failures."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from graphql.validation import ASTValidationRule
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
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
from graphql_petstore.api.schema import create_schema
from graphql_petstore.api.websocket_protocol import (
    LegacyWSHandler,
    TransportWSHandler,
    Uninitialised,
)
from graphql_petstore.database.consistency import TOKEN_INIT_KEY, MalformedTokenError, parse_token
from graphql_petstore.json_output import encode
from graphql_petstore.persisted import PersistedDocuments
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
            client_request_id=state.get("client_request_id"),
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
