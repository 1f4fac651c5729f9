"""OpenTelemetry tracing, set up once by the kit for every service (a service declares nothing).

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set (e.g. ``http://127.0.0.1:4318``, Jaeger's OTLP receiver),
``setup`` installs a tracer provider named after the service that exports over OTLP (HTTP/protobuf,
in batches), and traces the HTTP API (FastAPI), the outgoing HTTP calls (httpx) and the MongoDB
commands sent within a traced operation. Without it nothing is installed: every helper here is
then a no-op that costs a flag check.

One trace follows a command across Kafka: an event emitted during a request or a handler keeps the
W3C ``traceparent`` of that moment in its outbox document (``current_traceparent``); the relay
publishes it within a producer span child of it and sends that span's context in the CloudEvents
``traceparent`` extension, the Kafka header ``ce_traceparent`` (``publish_span``); the consumer runs
the handler within a consumer span whose parent is that header (``consumer_span``). Notifications
keep the traceparent of the event that caused them, and their sending is a child of it
(``child_span``): HTTP request → outbox relay publish → consumer → SMTP send.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pymongo import monitoring

if TYPE_CHECKING:
    from fastapi import FastAPI

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
# The CloudEvents distributed-tracing extension ``traceparent``, as a Kafka header (binary mode).
TRACEPARENT_HEADER = "ce_traceparent"
# Probes and scrapes are not worth a trace each.
EXCLUDED_URLS = "healthz,readyz,metrics"

_propagator = TraceContextTextMapPropagator()
_lock = threading.Lock()
_enabled = False
_instrumented_httpx = False
_tracer: trace.Tracer = trace.NoOpTracer()


def enabled() -> bool:
    """Whether this process exports traces."""
    return _enabled


def setup(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Install tracing for this process if ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; returns whether it is on.

    Called by the kit before the service's clients are built (MongoDB commands are traced by a
    listener registered here). The first call of a process decides: the tracer provider is global,
    so a process running several services (tests) names its traces after the first one.
    ``OTEL_SERVICE_NAME`` replaces the default name ``vies-<service>``; the other standard
    ``OTEL_*`` variables (sampler, batch delays, headers) apply as the SDK reads them.
    """
    global _enabled, _tracer, _instrumented_httpx
    env = os.environ if environ is None else environ
    if not env.get(ENDPOINT_ENV):
        return _enabled
    with _lock:
        if _enabled:
            return True
        # Imported only when tracing is on: a service without it loads no SDK.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        name = env.get("OTEL_SERVICE_NAME") or f"vies-{service}"
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        _tracer = provider.get_tracer("vies_shared")
        monitoring.register(_MongoCommandTracer())
        if not _instrumented_httpx:
            HTTPXClientInstrumentor().instrument(tracer_provider=provider)
            _instrumented_httpx = True
        _enabled = True
    return True


def instrument_app(app: FastAPI) -> None:
    """Trace the app's HTTP requests (a server span each, continuing an incoming ``traceparent``)."""
    if not _enabled:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=trace.get_tracer_provider(),
        excluded_urls=EXCLUDED_URLS,
        exclude_spans=["receive", "send"],
    )


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, or None (tracing off, or no span here)."""
    if not _enabled:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def _parent(traceparent: str | None) -> otel_context.Context | None:
    """The context a ``traceparent`` names (an empty one, i.e. a new trace, when it is missing or invalid)."""
    if not traceparent:
        return otel_context.Context()
    return _propagator.extract({"traceparent": traceparent})


def traceparent_of(span: Span | None) -> str | None:
    """The W3C ``traceparent`` that makes a span the parent of another (None for no or an invalid span)."""
    if span is None or not span.get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def header_traceparent(headers: Iterable[tuple[str, bytes | None]] | Mapping[str, str]) -> str | None:
    """The ``ce_traceparent`` of Kafka record headers (raw pairs or a decoded mapping), if any."""
    if isinstance(headers, Mapping):
        return headers.get(TRACEPARENT_HEADER) or None
    for name, raw in headers:
        if name == TRACEPARENT_HEADER and raw:
            return raw.decode(errors="replace")
    return None


def _event_attributes(document: Mapping[str, Any]) -> dict[str, str]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": str(document.get("topic", "")),
        "messaging.message.id": str(document.get("_id", "")),
        "cloudevents.event_id": str(document.get("_id", "")),
        "cloudevents.event_type": str(document.get("type", "")),
    }


def publish_span(document: Mapping[str, Any]) -> Span | None:
    """A producer span for publishing one outbox document, child of the traceparent it kept (None when off).

    The caller ends it once Kafka acknowledged the record (``end_span``) and sends
    ``with_traceparent(headers, span)``, so the consumer's span is a child of this one.
    """
    if not _enabled:
        return None
    attributes = {**_event_attributes(document), "messaging.operation.type": "send"}
    return _tracer.start_span(
        f"publish {document.get('type', 'event')}",
        context=_parent(document.get("traceparent")),
        kind=SpanKind.PRODUCER,
        attributes=attributes,
    )


def with_traceparent(headers: dict[str, str] | None, span: Span | None) -> dict[str, str] | None:
    """``headers`` plus ``ce_traceparent`` naming ``span`` (``headers`` itself, or None, without a span)."""
    traceparent = traceparent_of(span)
    if traceparent is None:
        return headers or None
    return {**(headers or {}), TRACEPARENT_HEADER: traceparent}


def end_span(span: Span | None, error: BaseException | None = None) -> None:
    """End a span started here, marked failed with ``error`` if there is one."""
    if span is None:
        return
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.end()


@contextlib.contextmanager
def consumer_span(
    ce_type: str, ce_id: str, topic: str, headers: Iterable[tuple[str, bytes | None]] | Mapping[str, str]
) -> Iterator[None]:
    """Handle one consumed event within a consumer span whose parent is its ``ce_traceparent`` header.

    The span is current meanwhile: what the handler emits or writes joins the trace.
    """
    if not _enabled:
        yield
        return
    attributes = {
        **_event_attributes({"_id": ce_id, "type": ce_type, "topic": topic}),
        "messaging.operation.type": "process",
    }
    with _tracer.start_as_current_span(
        f"process {ce_type}",
        context=_parent(header_traceparent(headers)),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    ):
        yield


@contextlib.contextmanager
def child_span(
    name: str,
    traceparent: str | None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span | None]:
    """Run a block within a span child of ``traceparent`` (a new trace without one); None when off.

    For work done later than what caused it, e.g. sending a notification kept from an event.
    """
    if not _enabled:
        yield None
        return
    with _tracer.start_as_current_span(
        name, context=_parent(traceparent), kind=kind, attributes=dict(attributes or {})
    ) as span:
        yield span


class _MongoCommandTracer(monitoring.CommandListener):
    """A client span per MongoDB command sent within a traced operation (background polls are left out)."""

    def __init__(self) -> None:
        self._spans: dict[tuple[Any, int], Span] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Open the command's span under the current one, if there is a current one."""
        if not trace.get_current_span().get_span_context().is_valid:
            return
        collection = event.command.get(event.command_name)
        target = f"{event.database_name}.{collection}" if isinstance(collection, str) else event.database_name
        host, port = event.connection_id
        span = _tracer.start_span(
            f"{event.command_name} {target}",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system.name": "mongodb",
                "db.namespace": event.database_name,
                "db.operation.name": event.command_name,
                "server.address": str(host),
                "server.port": int(port or 0),
            },
        )
        self._spans[(event.connection_id, event.request_id)] = span

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Close the command's span."""
        span = self._spans.pop((event.connection_id, event.request_id), None)
        if span is not None:
            span.end()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Close the command's span, marked failed."""
        span = self._spans.pop((event.connection_id, event.request_id), None)
        if span is not None:
            span.set_status(Status(StatusCode.ERROR, str(event.failure.get("codeName") or "failed")))
            span.end()
