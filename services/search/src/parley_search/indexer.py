"""The Kafka → search engine indexer: a FastStream batch subscriber in a consumer group.

A batch is committed only after the engine acknowledged every document of it (FastStream's
NACK_ON_ERROR: an exception re-delivers the batch from its first offset), so an engine outage
loses nothing: consumption pauses with backoff and resumes where it stopped. Events that can
never be indexed (unparseable, invalid, or refused by the mapping) go to the dead-letter topic
with the error, and the batch carries on.
"""

import asyncio
import time
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from prometheus_client import Counter, Gauge
from pydantic import ValidationError

from parley_contracts.events import EventEnvelope
from parley_contracts.topics import EventType
from parley_kit.logs import get_logger
from parley_search.documents import index_operations
from parley_search.engine import SearchEngine

log = get_logger(__name__)

INDEXED = Counter("parley_search_indexed_total", "Documents written to the search engine")
STALE = Counter("parley_search_stale_events_total", "Events older than the indexed state")
DEAD_LETTERS = Counter("parley_search_dead_letters_total", "Events sent to the dead-letter topic")
BATCH_FAILURES = Counter(
    "parley_search_batch_failures_total", "Batches re-delivered after an error"
)
LAST_BATCH_AGE = Gauge(
    "parley_search_last_event_age_seconds",
    "Age of the newest event of the last indexed batch (consumer lag in time)",
)

INDEXED_TYPES = {
    EventType.MESSAGE_CREATED,
    EventType.MESSAGE_UPDATED,
    EventType.MESSAGE_DELETED,
    EventType.REACTION_UPDATED,
    EventType.MESSAGE_PINNED,
    EventType.MESSAGE_UNPINNED,
}
# The longest pause between attempts while the engine fails: a retry costs one bulk request,
# and the pause is how late indexing resumes after the engine is back (10 s was most of the
# recovery time after an engine restart).
MAX_BACKOFF_SECONDS = 2.0
MAPPING_ERRORS = {
    "mapper_parsing_exception",
    "illegal_argument_exception",
    "strict_dynamic_mapping_exception",
    "document_parsing_exception",
}


async def raw_bodies(message: KafkaMessage) -> Any:
    """Keep the bytes: parsing is the handler's job, so a poison event cannot stall the topic."""
    return message.body


class Indexer:
    def __init__(
        self, engine: SearchEngine, broker: KafkaBroker, alias: str, dead_letter_topic: str
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._alias = alias
        self._dlq = dead_letter_topic
        self._backoff = 0.5

    def subscribe(
        self, topic: str, *, group_id: str, batch_size: int, flush_interval_ms: int
    ) -> None:
        subscriber = self._broker.subscriber(
            topic,
            group_id=group_id,
            batch=True,
            max_records=batch_size,
            batch_timeout_ms=flush_interval_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=raw_bodies,
        )
        subscriber(self.handle)

    async def handle(self, bodies: list[bytes]) -> None:
        try:
            await self.index_batch(bodies)
        except Exception as exc:
            BATCH_FAILURES.inc()
            log.warning(
                "indexing failed; the batch will be re-delivered",
                error=str(exc),
                backoff=self._backoff,
            )
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_SECONDS)
            raise
        self._backoff = 0.5

    async def index_batch(self, bodies: list[bytes]) -> None:
        operations: list[dict[str, Any]] = []
        sources: list[bytes] = []
        poison: list[tuple[bytes, str]] = []
        newest = 0.0
        for body in bodies:
            try:
                envelope = EventEnvelope.model_validate_json(body)
                if envelope.type not in INDEXED_TYPES:
                    continue
                message = envelope.message()
            except (ValidationError, ValueError, TypeError) as exc:
                poison.append((body, f"unreadable event: {exc}"[:1000]))
                continue
            operations += index_operations(self._alias, message)
            sources.append(body)
            newest = max(newest, envelope.occurred_at.timestamp())
        if operations:
            result = await self._engine.bulk(operations)
            for source, item in zip(sources, result.get("items", []), strict=True):
                outcome = item.get("index", {})
                status = int(outcome.get("status", 500))
                if status < 300:
                    INDEXED.inc()
                elif status == 409:
                    STALE.inc()  # a newer state is already indexed
                elif outcome.get("error", {}).get("type") in MAPPING_ERRORS:
                    poison.append((source, f"rejected by the index: {outcome['error']}"[:1000]))
                else:
                    raise RuntimeError(f"the search engine refused a write: {outcome.get('error')}")
        for body, error in poison:
            DEAD_LETTERS.inc()
            log.warning("event sent to the dead-letter topic", error=error)
            await self._broker.publish(body, topic=self._dlq, headers={"error": error})
        if newest:
            LAST_BATCH_AGE.set(max(0.0, time.time() - newest))
