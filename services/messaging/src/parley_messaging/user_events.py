"""Messaging's listener on the users topic (`parley.users.v1`), in a consumer group of its own:
deactivations hand groups over to a new admin (`domain.succession`).

It starts in the background and retries while Kafka is down, so the API serves without it; a
new group starts at the earliest offset, so a deactivation published before the first start
is still handled (handling is idempotent, other events are skipped).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import AckPolicy
from faststream.kafka.message import KafkaMessage

from parley_kit.kafka import KafkaConnection, start_consuming
from parley_kit.logs import get_logger
from parley_kit.tracing import Tracing

log = get_logger(__name__)


async def _raw(message: KafkaMessage) -> Any:
    return message.body


class UserEventsListener:
    def __init__(
        self,
        kafka: KafkaConnection,
        topic: str,
        *,
        group_id: str,
        handler: Callable[[bytes], Awaitable[None]],
        tracing: Tracing | None = None,
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._broker = kafka.broker(client_id="parley-messaging", tracing=tracing)
        # Committed once handled (not on receipt): a replica stopped while it hands admins
        # over leaves the event to the next member of the group instead of losing it.
        subscriber = self._broker.subscriber(
            topic,
            group_id=group_id,
            auto_offset_reset="earliest",
            decoder=_raw,
            ack_policy=AckPolicy.ACK,
        )
        subscriber(handler)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        await start_consuming(
            self._broker, self._kafka, [self._topic], name="users topic listener", max_delay=2.0
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._broker.stop(), 5.0)
