"""One trace across the whole suite: the four services run as processes with tracing on,
exporting OTLP/HTTP to a collector this test serves itself; a message sent through the
gateway yields spans of the gateway request, messaging, the outbox relay, the search indexer
and the gateway's socket relay that all share one trace id."""

import gzip
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from e2e_factories import close, member_of, tenant_with_owner
from e2e_suite import ProcessSuite
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from parley_kit.testing.stack import Isolation, StackUrls, eventually, repo_root

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str
    name: str
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@dataclass
class Collector:
    """An OTLP/HTTP traces endpoint on loopback that keeps every span it is sent."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name")),
                            trace_id=span.trace_id.hex(),
                            name=span.name,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self.lock:
            self.spans += received

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)


def serve(collector: Collector) -> ThreadingHTTPServer:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            collector.receive(body)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True).start()
    return server


@dataclass
class TracedSuite(ProcessSuite):
    collector_url: str = ""

    def environment(self, service: str) -> dict[str, str]:
        prefix = f"PARLEY_{service.upper()}_"
        return super().environment(service) | {
            f"{prefix}TRACING_EXPORTER": "otlp",
            f"{prefix}TRACING_ENDPOINT": self.collector_url,
        }


@pytest.fixture
def traced(stack_urls: StackUrls, isolation: Isolation) -> Iterator[tuple[TracedSuite, Collector]]:
    collector = Collector()
    server = serve(collector)
    suite = TracedSuite(
        stack_urls,
        isolation,
        repo_root() / ".stack" / "logs" / f"e2e-tracing-{isolation.name}",
        collector_url=f"http://127.0.0.1:{server.server_address[1]}/v1/traces",
    )
    try:
        suite.start_all()
        yield suite, collector
    finally:
        suite.stop_all()
        server.shutdown()
        server.server_close()


async def test_a_sent_message_is_one_trace_from_the_gateway_to_the_indexer_and_the_socket(
    traced: tuple[TracedSuite, Collector],
) -> None:
    suite, collector = traced
    ada = await tenant_with_owner(suite.gateway_url)
    bob = await member_of(suite.gateway_url, ada, "bob")
    try:
        group = await ada.client.create_conversation("group", [bob.user_id], title="traces")
        sent = await ada.client.send_message(group.id, "follow this message")
    finally:
        await close(ada, bob)
    event_id = f"message:{sent.id}:created"

    def trace_of_the_send() -> list[ReceivedSpan]:
        spans = collector.snapshot()
        ids = {
            s.trace_id
            for s in spans
            if s.name == "socket.io emit" and s.attributes.get("messaging.message.id") == event_id
        }
        return [s for s in spans if s.trace_id in ids]

    def complete(spans: list[ReceivedSpan]) -> bool:
        names = {(s.service, s.name.split(" ")[0]) for s in spans}
        return {
            ("parley-gateway", "POST"),  # the request at the edge
            ("parley-messaging", "POST"),  # the call it made to messaging
            ("parley-messaging", "publish"),  # the outbox relay
            ("parley-search", "process"),  # the indexer's batch
            ("parley-gateway", "process"),  # the socket relay's record
            ("parley-gateway", "socket.io"),  # its emit to the room
        } <= names

    async def arrived() -> bool:
        return complete(trace_of_the_send())

    # Each service exports on its own schedule (a batch every few seconds).
    await eventually(arrived, timeout=60, interval=0.5)
    spans = trace_of_the_send()
    assert len({s.trace_id for s in spans}) == 1
    assert complete(spans), sorted({(s.service, s.name) for s in spans})
    indexed = [s for s in spans if s.service == "parley-search" and s.name.startswith("process")]
    assert {s.attributes.get("messaging.message.id") for s in indexed} == {event_id}
