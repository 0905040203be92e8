"""Tracing with OpenTelemetry (the `otel` extra); imported only by
graphql_petstore.observability.tracing once the environment asks for it.

Spans: one per HTTP request (opentelemetry-instrumentation-asgi), one per
GraphQL operation under it (graphql_petstore.observability.operations), and
one per SQL statement under that (opentelemetry-instrumentation-asyncpg: it
sees the statements of both pools, SQLAlchemy's and the lean one, since both
run on asyncpg). The server's own background reads (the doorbell, the
stream's reader) run untraced.
The SDK reads the standard variables itself: OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_BSP_*, and each exporter
its own (OTEL_EXPORTER_OTLP_ENDPOINT, …).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points

from opentelemetry import context, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from starlette.middleware import Middleware

from graphql_petstore.errors import ConfigurationError
from graphql_petstore.observability.tracing import AttributeValue

DEFAULT_SERVICE_NAME = "graphql-petstore"
# Named as OTEL_TRACES_EXPORTER names them. "otlp" is OTLP over gRPC when
# opentelemetry-exporter-otlp is installed; the extra brings the HTTP one.
EXPORTER_GROUP = "opentelemetry_traces_exporter"
OTLP_FALLBACK = "otlp_proto_http"
# Probes and scrapes come every few seconds and say nothing worth a trace.
UNTRACED_PATHS = "/healthz,/readyz,/metrics"


class OpenTelemetryOperationSpan:
    def __init__(self, span: Span) -> None:
        self._span = span
        self._token: object | None = None

    def enter(self) -> None:
        self._token = context.attach(trace.set_span_in_context(self._span))

    def exit(self) -> None:
        if self._token is not None:
            context.detach(self._token)  # type: ignore[arg-type]
            self._token = None

    def finish(self, attributes: Mapping[str, AttributeValue], name: str, failed: bool) -> None:
        self._span.update_name(name)
        self._span.set_attributes(dict(attributes))
        if failed:
            self._span.set_status(Status(StatusCode.ERROR))
        self._span.end()


class OpenTelemetryTracing:
    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("graphql_petstore")

    @classmethod
    def from_environment(cls) -> OpenTelemetryTracing:
        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
        provider = TracerProvider(resource=resource)
        for exporter in _exporters():
            provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def middleware(self) -> Middleware:
        return Middleware(
            OpenTelemetryMiddleware,
            tracer_provider=self.provider,
            excluded_urls=UNTRACED_PATHS,
            exclude_spans=["receive", "send"],
        )

    def instrument(self) -> None:
        """SQL spans: asyncpg's methods are wrapped once per process."""
        instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=self.provider)

    @contextlib.contextmanager
    def untraced(self) -> Iterator[None]:
        with suppress_instrumentation():
            yield

    def start_operation(self) -> OpenTelemetryOperationSpan:
        return OpenTelemetryOperationSpan(
            self._tracer.start_span("graphql.operation", kind=SpanKind.INTERNAL)
        )

    def annotate(self, attributes: Mapping[str, AttributeValue]) -> None:
        trace.get_current_span().set_attributes(dict(attributes))

    def trace_id(self) -> str | None:
        span_context = trace.get_current_span().get_span_context()
        return format(span_context.trace_id, "032x") if span_context.is_valid else None

    def flush(self) -> None:
        self.provider.force_flush()


def _exporters() -> list[SpanExporter]:
    names = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",")
    exporters = []
    for name in filter(None, (n.strip() for n in names)):
        if name == "none":
            continue
        found = entry_points(group=EXPORTER_GROUP, name=name)
        if not found and name == "otlp":
            found = entry_points(group=EXPORTER_GROUP, name=OTLP_FALLBACK)
        if not found:
            raise ConfigurationError(f"OTEL_TRACES_EXPORTER names {name!r}, which is not installed")
        (point,) = tuple(found)[:1]
        exporters.append(point.load()())
    return exporters
