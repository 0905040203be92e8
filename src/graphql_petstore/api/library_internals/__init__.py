"""What this server relies on in its libraries (strawberry, graphql-core,
uvicorn, prometheus-client) beyond their documented API, all of it in this
package, a module per library. tests/api/test_library_internals.py fails
loudly when an upgrade changes any of it.

- graphql-core reports a document over its token limit as a syntax error
  whose message says so (graphql.language.parser): that message is how a
  token-limit error is told from any other syntax error.
- strawberry's scalars raise a GraphQLError without a node when a literal
  written in the document does not parse, and graphql-core's
  ValuesOfCorrectTypeRule reports it as it is: without `locations`. Each
  scalar's parse_literal is wrapped to add the node.
- graphql-core coerces every input value through its scalar's
  `coerce_input_value` / `coerce_input_literal` (and the deprecated
  `parse_value` / `parse_literal` that strawberry's scalars define), and
  passes a GraphQLError raised there on, with its extensions, as the
  original error of the variable's or literal's error. The checks of
  api/input_guards.py are put around those functions: on graphql-core's own
  String, which every schema of the process shares (no String may hold what
  PostgreSQL cannot store, in any schema here), and on this schema's
  DateTime and JSON.
- uvicorn has no timeout for a request's line and headers (a client that
  sends them a byte at a time holds its socket for ever). Its HTTP protocol
  classes (httptools' and h11's) are asyncio protocols that set
  `self.cycle` when a request's headers are complete, and take a protocol
  class of ours (Config(http=…)): `with_header_timeout` subclasses the one
  uvicorn would pick and closes, with 408, a connection whose request line
  and headers take longer than the timeout.
- strawberry's HTTP view runs a subscription sent over plain HTTP as if it
  were a query (and fails on the non-null root field); `execute_single` is
  where it decides which operation types an HTTP request may run.
- Shared subscriptions (graphql_petstore.sharing) are handed to a group by
  subclasses of strawberry's two WebSocket protocol handlers, which override
  the method that runs one subscription: `run_operation(operation)` of the
  graphql-transport-ws handler (an Operation with id, query, variables,
  operation_name; it sends `complete` through
  operation.send_operation_message) and `handle_async_results(id, query,
  operation_name, variables)` of the graphql-ws handler (which keeps
  `subscriptions` and `tasks` by id). A shared frame is sent as text
  straight to the Starlette WebSocket that strawberry's ASGI adapter holds
  (`websocket.ws`), and its payload is built as strawberry's `send_next` /
  `send_data_message` build theirs (`next_payload`).
- A group writes its frames to each member's socket from its fan-out loop
  (FrameSink), not through a task and an ASGI send per frame: each member's
  frame goes to the websockets Sans-I/O connection (`conn.send_text`, which
  frames and compresses it) of uvicorn's WebSocketsSansIOProtocol, and each
  socket's frames of one event leave in one `transport.write`. It relies on
  that protocol's `send` being the ASGI send that reaches the app (nothing in
  between does anything to a `websocket.send`: see SinkMiddleware) and on its
  attributes `conn`, `transport`, `writable` (cleared while the transport is
  paused), `close_sent`, `disconnected`. Under any other WebSocket protocol
  (wsproto, uvicorn's legacy websockets one), or a tracer's middleware
  outside, a member has no sink and its frames go through the ASGI send.
- prometheus-client's Histogram observes one value at a time, in Python,
  under a lock per bucket. observability.metrics counts an operation's
  latencies in plain numbers and adds them in bulk (`add_observations`): a
  histogram child keeps `_sum` and, in `_buckets`, one value per bound of
  `_upper_bounds` (counts not cumulative: observe() adds 1 to the first
  bucket whose bound is not below the value), each with `inc(amount)`; in
  multiprocess mode those values are the ones written to the worker's file.
"""

from graphql_petstore.api.library_internals.graphql_core import (
    guard_scalars,
    is_token_limit,
    locate_scalar_errors,
)
from graphql_petstore.api.library_internals.prometheus import add_observations
from graphql_petstore.api.library_internals.strawberry import (
    HTTP_OPERATION_TYPES,
    SharingGraphQLWSHandler,
    SharingTransportWSHandler,
    next_payload,
)
from graphql_petstore.api.library_internals.uvicorn import (
    HEADER_TIMEOUT_PROTOCOL,
    SINK_SCOPE_KEY,
    FrameSink,
    SinkMiddleware,
    frame_sink,
    with_header_timeout,
)

__all__ = [
    "HEADER_TIMEOUT_PROTOCOL",
    "HTTP_OPERATION_TYPES",
    "SINK_SCOPE_KEY",
    "FrameSink",
    "SharingGraphQLWSHandler",
    "SharingTransportWSHandler",
    "SinkMiddleware",
    "add_observations",
    "frame_sink",
    "guard_scalars",
    "is_token_limit",
    "locate_scalar_errors",
    "next_payload",
    "with_header_timeout",
]
