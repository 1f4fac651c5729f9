"""Tracing: off (nothing installed, nothing exported) without OTEL_EXPORTER_OTLP_ENDPOINT, exported over OTLP
with it; the trace context crosses Kafka in the CloudEvents ``traceparent`` extension (``ce_traceparent``)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from vies_shared import tracing
from vies_shared.events.envelope import decode_meta, encode, headers_to_dict
from vies_shared.events.recruitment import ApplicationWithdrawn


class Collector:
    """A local OTLP/HTTP receiver that keeps the paths it was posted to."""

    def __init__(self) -> None:
        self.posts: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                collector.posts.append(self.path)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    yield receiver
    receiver.server.shutdown()


# A service process in miniature: the kit's setup, a span, a traceparent kept, the process exits.
PROCESS = """
import sys
from opentelemetry import trace
from vies_shared import tracing

on = tracing.setup("recruitment")
with trace.get_tracer("test").start_as_current_span("a request"):
    kept = tracing.current_traceparent()
print(on, kept is not None, tracing.publish_span({"_id": "e1", "type": "t"}) is not None,
      "opentelemetry.sdk" in sys.modules)
"""


def run_process(endpoint: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    done = subprocess.run(
        [sys.executable, "-c", PROCESS], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_without_the_endpoint_nothing_is_installed_nor_exported(collector: Collector) -> None:
    # Off: no SDK loaded, no traceparent kept in outbox documents, no publish span, nothing posted.
    assert run_process(None) == "False False False False"
    assert collector.posts == []
    # On: the same process exports its spans to the OTLP endpoint (flushed when it exits).
    assert run_process(collector.endpoint) == "True True True True"
    assert "/v1/traces" in collector.posts


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Tracing on for this test only, spans kept in memory (the process's global provider is left alone)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_enabled", True)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return exporter


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [span] = [s for s in finished if s.name == name]
    return span


def test_the_trace_context_round_trips_through_the_cloudevents_header(spans: InMemorySpanExporter) -> None:
    event = ApplicationWithdrawn(application_id="app-1")
    # An HTTP request emits the event: its outbox document keeps the request's traceparent.
    with tracing.child_span("POST /applications/app-1/withdraw", None, kind=SpanKind.SERVER):
        kept = tracing.current_traceparent()
    meta, message = encode(event, time=datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    topic = "vies.recruitment.events"
    document = {"_id": meta.id, "type": meta.type, "topic": topic, "traceparent": kept}

    # The relay publishes it within a producer span and sends that span in ce_traceparent.
    span = tracing.publish_span(document)
    headers = tracing.with_traceparent(message.headers, span)
    tracing.end_span(span)
    assert headers is not None and headers[tracing.TRACEPARENT_HEADER] == tracing.traceparent_of(span)
    record_headers = [(name, value.encode()) for name, value in headers.items()]
    # The extension is additive: the envelope still decodes, the other attributes unchanged.
    assert decode_meta(headers_to_dict(record_headers)) == meta

    # The consumer handles it within a consumer span child of the header; a notification kept then is sent later.
    with tracing.consumer_span(meta.type, meta.id, topic, record_headers):
        notification_traceparent = tracing.current_traceparent()
    with tracing.child_span("smtp send", notification_traceparent, kind=SpanKind.CLIENT):
        pass

    finished = spans.get_finished_spans()
    request = by_name(finished, "POST /applications/app-1/withdraw")
    publish = by_name(finished, "publish recruitment.ApplicationWithdrawn")
    process = by_name(finished, "process recruitment.ApplicationWithdrawn")
    send = by_name(finished, "smtp send")
    assert {s.context.trace_id for s in (request, publish, process, send)} == {request.context.trace_id}
    assert publish.parent is not None and publish.parent.span_id == request.context.span_id
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    assert send.parent is not None and send.parent.span_id == process.context.span_id
    assert (publish.kind, process.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)
    assert process.attributes is not None and process.attributes["cloudevents.event_id"] == meta.id


def test_an_event_without_traceparent_starts_a_trace_and_a_garbled_one_is_ignored(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.consumer_span("t.T", "e1", "topic", {tracing.TRACEPARENT_HEADER: "not a traceparent"}):
        assert trace.get_current_span().get_span_context().is_valid
    [span] = spans.get_finished_spans()
    assert span.parent is None
