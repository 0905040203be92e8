"""What this server relies on in its libraries (strawberry, graphql-core,
uvicorn, prometheus-client) beyond their documented API, all of it in this
package, a module per library. tests/api/test_library_internals.py fails
loudly when an upgrade changes any of it.

- graphql_core: telling the token limit's syntax error apart; locations
  for scalar literal errors; the input guards around every scalar coercer.
- strawberry: which operation types an HTTP request may run; the WebSocket
  protocol handlers that hand subscriptions to shared groups.
- uvicorn: the request line and headers' time limit; a shared group's
  frames written to each socket (FrameSink).
- prometheus: latencies added to a histogram in bulk.

Each module's docstring says exactly what it relies on.
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
