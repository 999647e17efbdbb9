"""Tracing hops without I/O: the server span of a request, the traceparent an httpx call sends,
the context an outbox record keeps and the headers the relay derives from it; off means no-op."""

import json

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from parley_kit.app import create_service_app
from parley_kit.logs import configure_logging, get_logger
from parley_kit.settings import ServiceSettings
from parley_kit.tracing import (
    Tracing,
    UntrustedTraceContext,
    context_headers,
    current_context,
    start_producer_span,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def recording(name: str = "parley-test") -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing = Tracing(name, processor=lambda: SimpleSpanProcessor(exporter))
    tracing.start()
    return tracing, exporter


def echo_app(tracing: Tracing) -> object:
    router = APIRouter()

    @router.get("/v1/echo/{word}")
    async def echo(word: str) -> dict[str, str | None]:
        return {"word": word, "context": (current_context() or {}).get("traceparent")}

    return create_service_app(
        service="echo", settings=ServiceSettings(), routers=[router], tracing=tracing
    )


async def test_a_request_is_a_server_span_under_the_callers_traceparent() -> None:
    tracing, exporter = recording()
    app = echo_app(tracing)
    async with LifespanManager(app) as manager:  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://echo") as client:
            answer = await client.get("/v1/echo/hi", headers={"traceparent": TRACEPARENT})
            await client.get("/healthz", headers={"traceparent": TRACEPARENT})

    assert answer.status_code == 200
    servers = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert len(servers) == 1  # the probe is not traced
    (server,) = servers
    assert server.name == "GET /v1/echo/{word}"
    assert server.resource.attributes["service.name"] == "parley-test"
    assert f"{server.context.trace_id:032x}" == TRACE_ID
    assert server.parent is not None
    assert f"{server.parent.span_id:016x}" == PARENT_ID
    # Inside the handler the current context is this trace (what the outbox stores).
    assert answer.json()["context"].split("-")[1] == TRACE_ID


async def test_tracing_off_records_nothing_and_stores_no_context() -> None:
    tracing = Tracing("parley-test")
    assert not tracing.enabled
    app = echo_app(tracing)
    async with LifespanManager(app) as manager:  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://echo") as client:
            answer = await client.get("/v1/echo/hi", headers={"traceparent": TRACEPARENT})
    assert answer.json()["context"] is None
    assert tracing.broker_middlewares() == ()
    assert isinstance(tracing.provider, trace.NoOpTracerProvider)


async def test_settings_choose_the_exporter_and_service_name() -> None:
    off = Tracing.of(ServiceSettings(), "messaging")
    on = Tracing.of(
        ServiceSettings(tracing_exporter="otlp", tracing_headers="api-key=secret"), "messaging"
    )
    named = Tracing.of(
        ServiceSettings(tracing_exporter="otlp", tracing_service_name="chat-api"), "messaging"
    )
    assert not off.enabled
    assert on.enabled
    assert on.service_name == "parley-messaging"
    assert named.service_name == "chat-api"


async def test_an_httpx_call_is_a_client_span_and_sends_its_traceparent() -> None:
    tracing, exporter = recording()
    sent: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    client = tracing.instrument_http(httpx.AsyncClient(transport=httpx.MockTransport(upstream)))
    tracer = tracing.tracer("test")
    async with client:
        with tracer.start_as_current_span("request") as request_span:
            await client.get("http://messaging/v1/conversations")

    (call,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert call.parent is not None
    assert call.parent.span_id == request_span.get_span_context().span_id
    _, trace_id, span_id, _ = sent[0].headers["traceparent"].split("-")
    assert trace_id == f"{request_span.get_span_context().trace_id:032x}"
    assert span_id == f"{call.context.span_id:016x}"  # the callee's parent is the client span


async def test_a_stored_context_becomes_the_parent_of_the_producer_span_and_its_headers() -> None:
    tracing, exporter = recording()
    tracer = tracing.tracer("test")
    with tracer.start_as_current_span("send message") as request_span:
        stored = current_context()
    assert stored is not None
    assert stored["traceparent"].split("-")[1] == f"{request_span.get_span_context().trace_id:032x}"

    span, carrier = start_producer_span(tracer, stored, "publish parley.messages.v1")
    span.end()
    (producer,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert producer.parent is not None
    assert producer.parent.span_id == request_span.get_span_context().span_id
    headers = dict(context_headers(carrier))
    _, trace_id, span_id, _ = headers["traceparent"].decode().split("-")
    assert trace_id == f"{producer.context.trace_id:032x}"
    assert span_id == f"{producer.context.span_id:016x}"


async def test_a_relay_that_does_not_trace_forwards_the_stored_context_unchanged() -> None:
    stored = {"traceparent": TRACEPARENT, "tracestate": "vendor=1"}
    span, carrier = start_producer_span(trace.NoOpTracer(), stored, "publish")
    assert not span.is_recording()
    assert dict(context_headers(carrier)) == {
        "traceparent": TRACEPARENT.encode(),
        "tracestate": b"vendor=1",
    }
    assert start_producer_span(trace.NoOpTracer(), None, "publish")[1] == {}


def test_a_log_line_inside_a_span_names_its_trace(capsys: pytest.CaptureFixture[str]) -> None:
    tracing, _ = recording()
    configure_logging("test", "INFO", json=True)
    log = get_logger("test")
    with tracing.tracer("test").start_as_current_span("work") as span:
        log.info("inside")
    log.info("outside")
    inside, outside = (json.loads(line) for line in capsys.readouterr().out.splitlines()[-2:])
    assert inside["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert inside["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert "trace_id" not in outside


async def test_the_public_edge_starts_its_own_trace_whatever_the_client_sends() -> None:
    tracing, exporter = recording()
    app = echo_app(tracing)
    async with LifespanManager(app) as manager:  # type: ignore[arg-type]
        edge = UntrustedTraceContext(manager.app)
        transport = httpx.ASGITransport(app=edge)
        async with httpx.AsyncClient(transport=transport, base_url="http://echo") as client:
            answer = await client.get(
                "/v1/echo/hi",
                headers={"traceparent": TRACEPARENT, "baggage": "tenant=forged"},
            )

    (server,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server.parent is None
    assert f"{server.context.trace_id:032x}" != TRACE_ID
    assert answer.json()["context"].split("-")[1] == f"{server.context.trace_id:032x}"
