"""OpenTelemetry tracing: one trace from a gateway request through the service calls, the
outbox and Kafka to the search indexer and the socket relay.

The hops, each propagating the W3C trace context (`traceparent`, `tracestate`):

- HTTP in: FastAPI's own telemetry opens a server span per request, the caller's
  `traceparent` as its parent (`fastapi_telemetry`).
- HTTP out: the httpx instrumentation opens a client span and sends `traceparent`
  (`instrument_http`).
- The outbox: `Outbox.enqueue` stores the caller's context in the record (`current_context`),
  because the relay publishes later, in another task; the relay opens a producer span under it
  and sends its context as Kafka record headers (`OutboxRelay`).
- Kafka in: a FastStream middleware (`broker_middlewares`) opens a consumer span per record,
  a child of the producer's context; a batch subscriber gets one span per record of the batch.

Off by default (`TRACING_EXPORTER=none`): no SDK provider, FastAPI's telemetry disabled,
nothing instrumented, no middleware; what remains on a request is a check of the current span
in `Outbox.enqueue`. The provider is an inert object until the lifespan attaches its exporter
(`start`), and the lifespan flushes and shuts it down at exit (`shutdown`); nothing connects
at import time or in the app factory.
"""

import asyncio
import contextlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Literal

import httpx
from fastapi.telemetry import TelemetryConfig
from faststream._internal.context.repository import ContextRepo
from faststream._internal.middlewares import BaseMiddleware
from faststream.message import StreamMessage
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.re import parse_env_headers
from starlette.types import ASGIApp, Receive, Scope, Send

from parley_kit.logs import get_logger
from parley_kit.settings import ServiceSettings

log = get_logger(__name__)

TracingExporter = Literal["none", "otlp"]
# Probes and scrapes are not what a trace is for (and would be most of the spans).
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# How long one export (and the flush at exit) may take: a collector that is down costs a
# stopping service at most this much.
EXPORT_TIMEOUT_SECONDS = 5.0
# The context keys stored with an outbox record and sent as Kafka record headers.
CONTEXT_HEADERS = ("traceparent", "tracestate", "baggage")
_CLIENT_CONTEXT = frozenset(name.encode() for name in CONTEXT_HEADERS)


class Tracing:
    """The tracing of one service process: `Tracing.of(settings, service)`.

    `processor` builds the span processor that exports (called once, by `start`); without
    one, tracing is off and every tracer is a no-op.
    """

    def __init__(
        self,
        service_name: str,
        *,
        processor: Callable[[], SpanProcessor] | None = None,
        sample_ratio: float = 1.0,
    ) -> None:
        self.service_name = service_name
        self._processor = processor
        self._sdk: SdkTracerProvider | None = None
        if processor is not None:
            # A call inside a trace follows its caller's decision; a new trace is kept at the
            # ratio (so one decision, at the edge, holds for the whole trace).
            self._sdk = SdkTracerProvider(
                sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
                resource=Resource.create({"service.name": service_name}),
                shutdown_on_exit=False,
            )
        self.provider: trace.TracerProvider = self._sdk or trace.NoOpTracerProvider()
        self._started = False

    @classmethod
    def of(cls, settings: ServiceSettings, service: str) -> "Tracing":
        name = settings.tracing_service_name or f"parley-{service}"
        if settings.tracing_exporter == "none":
            return cls(name)

        def otlp() -> SpanProcessor:
            headers = parse_env_headers(settings.tracing_headers.get_secret_value(), liberal=True)
            exporter = OTLPSpanExporter(
                endpoint=settings.tracing_endpoint,
                headers=headers,
                certificate_file=settings.tracing_ca_file or None,
                timeout=EXPORT_TIMEOUT_SECONDS,
            )
            return BatchSpanProcessor(exporter, export_timeout_millis=EXPORT_TIMEOUT_SECONDS * 1000)

        return cls(name, processor=otlp, sample_ratio=settings.tracing_sample_ratio)

    @property
    def enabled(self) -> bool:
        return self._sdk is not None

    def tracer(self, name: str) -> trace.Tracer:
        return self.provider.get_tracer(name)

    def start(self) -> None:
        """Attach the exporter (the lifespan's first step): spans are exported from now on."""
        if self._sdk is None or self._processor is None or self._started:
            return
        self._sdk.add_span_processor(self._processor())
        self._started = True
        log.info("tracing on", service_name=self.service_name)

    async def shutdown(self) -> None:
        """Export what is pending and stop (the lifespan's last step); bounded by the export
        timeout, off the event loop."""
        if self._sdk is None or not self._started:
            return
        self._started = False
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self._sdk.shutdown)

    def fastapi_telemetry(self) -> TelemetryConfig:
        """FastAPI's own telemetry: server spans only (metrics are Prometheus', logs
        structlog's), with this provider, none at all when off."""
        return {
            "tracer_provider": self._sdk,
            "tracing": self.enabled,
            "metrics": False,
            "logs": False,
            "auto_configure": False,
            "exclude": _untraced,
        }

    def instrument_http(self, client: httpx.AsyncClient) -> httpx.AsyncClient:
        """Client spans for `client`'s calls, each sending `traceparent` (nothing when off)."""
        if self._sdk is not None:
            HTTPXClientInstrumentor.instrument_client(
                client, tracer_provider=self._sdk, meter_provider=NoOpMeterProvider()
            )
        return client

    def broker_middlewares(self) -> tuple["ConsumerSpans", ...]:
        """The FastStream middlewares of a broker: a consumer span per record (none when off)."""
        if self._sdk is None:
            return ()
        return (ConsumerSpans(self.tracer("parley_kit.kafka")),)


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


def current_context() -> dict[str, str] | None:
    """The W3C headers of the current span (to keep with work done later), or None when there
    is no span: tracing off, or outside a trace."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


def context_headers(carrier: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """Kafka record headers of a stored context."""
    return [(key, carrier[key].encode()) for key in CONTEXT_HEADERS if key in carrier]


def start_producer_span(
    tracer: trace.Tracer, stored: Mapping[str, str] | None, name: str, **attributes: Any
) -> tuple[trace.Span, dict[str, str]]:
    """A producer span under a stored context, and the context to send with the record: the
    span's own when this side traces, the stored one unchanged when it does not. The caller
    ends the span (on the broker's acknowledgement)."""
    if not stored:
        return trace.INVALID_SPAN, {}
    parent = propagate.extract(dict(stored))
    span = tracer.start_span(name, context=parent, kind=SpanKind.PRODUCER, attributes=attributes)
    carrier = dict(stored)
    if span.get_span_context().is_valid:
        propagate.inject(carrier, context=trace.set_span_in_context(span, parent))
    return span, carrier


class ConsumerSpans:
    """FastStream middleware factory: `KafkaBroker(middlewares=[ConsumerSpans(tracer)])`."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> "_ConsumerScope":
        return _ConsumerScope(msg, context=context, tracer=self._tracer)


class _ConsumerScope(BaseMiddleware[Any, Any]):
    def __init__(self, msg: Any, /, *, context: ContextRepo, tracer: trace.Tracer) -> None:
        super().__init__(msg, context=context)
        self._tracer = tracer

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        raw = msg.raw_message
        if isinstance(raw, tuple):
            return await self._batch(call_next, msg, raw)
        parent = propagate.extract(dict(msg.headers))
        with self._tracer.start_as_current_span(
            f"process {getattr(raw, 'topic', '')}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=_record_attributes(raw, msg.headers),
        ):
            return await call_next(msg)

    async def _batch(
        self, call_next: Any, msg: StreamMessage[Any], records: tuple[Any, ...]
    ) -> Any:
        """One span per record, each a child of its own producer's context, covering the
        batch's handling; none is current (the batch's work belongs to all of them)."""
        headers = msg.batch_headers or [{} for _ in records]
        spans = [
            self._tracer.start_span(
                f"process {getattr(record, 'topic', '')}",
                context=propagate.extract(dict(record_headers)),
                kind=SpanKind.CONSUMER,
                attributes=_record_attributes(record, record_headers)
                | {"messaging.batch.message_count": len(records)},
            )
            for record, record_headers in zip(records, headers, strict=False)
        ]
        token = otel_context.attach(otel_context.Context())
        try:
            return await call_next(msg)
        except Exception as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise
        finally:
            otel_context.detach(token)
            for span in spans:
                span.end()


def _record_attributes(record: Any, headers: Mapping[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": getattr(record, "topic", ""),
        "messaging.destination.partition.id": str(getattr(record, "partition", "")),
        "messaging.kafka.offset": getattr(record, "offset", -1),
    }
    if "event_id" in headers:
        attributes["messaging.message.id"] = str(headers["event_id"])
    if "event_type" in headers:
        attributes["parley.event_type"] = str(headers["event_type"])
    return attributes


class UntrustedTraceContext:
    """ASGI middleware of the public edge: a client's `traceparent`, `tracestate` and `baggage`
    are dropped, so every trace starts at the gateway under its own sampling ratio (a client
    can neither force its requests to be recorded nor carry baggage into the services)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope.get("headers", ())
        if any(name in _CLIENT_CONTEXT for name, _ in headers):
            scope = dict(scope)
            scope["headers"] = [(n, v) for n, v in headers if n not in _CLIENT_CONTEXT]
        await self.app(scope, receive, send)


def tracing_of(app: Any) -> Tracing:
    """The tracing `create_service_app` gave `app` (for its lifespan's clients); off for an
    app built some other way."""
    found = getattr(app.state, "tracing", None)
    return found if isinstance(found, Tracing) else Tracing("parley")
