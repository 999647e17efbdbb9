"""Faults under a steady load (issue 15, item 14 and "tests/faults").

Three users keep sending to one group conversation through the gateway (each message with a
`client_msg_id`, retried with the same id on 503, timeouts and refused connections), all four
members hold a socket, and a reader searches and reads history beside them. Meanwhile Kafka,
the search engine, Redis, the document store, messaging, search and the gateway are each
stopped for a few seconds and started again, in turn, on a stack of this session's own.

After each restart the test waits (bounded) until sends succeed, a new message arrives live on
every socket and a new message is searchable, and reports how long each took. At the end:
every acknowledged message is stored once (history seqs 1..N, one per client_msg_id), indexed
once (its own token finds it, and only it), and delivered once to every member (live or by
`sync`), and no call was ever answered with a 5xx other than 503.

The one timing assertion is the generous bound below on the send recovery; the target is 10 s
from the engine being back, and the report (printed, and in the logs folder) shows the figures.
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_factories import Person, close, member_of, tenant_with_owner
from e2e_suite import ProcessSuite
from fault_load import (
    COMMON_WORD,
    REPORT,
    Attempt,
    Listener,
    Prober,
    Row,
    Sender,
    Sent,
    content_of,
    delivery_recovery,
    describe,
    send_recovery,
    table,
    token_of,
    window,
)
from fault_stack import FaultStack

from parley_client import ParleyClient, RateLimited
from parley_contracts.resources import Message

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(2700)]

ENGINE_DOWN_SECONDS = 8.0  # an engine stays stopped this long under load
SERVICE_DOWN_SECONDS = 2.0  # a crashed service is back this soon (a supervisor restarts it)
RECOVERY_WAIT = 120.0  # the longest we wait for a fault's recovery before moving on
SEND_RECOVERY_TARGET = 10.0  # issue 15 item 14: engine back -> sends succeed
SEND_RECOVERY_BOUND = 30.0  # asserted: the target with room for a shared 2-core machine
CLIENT_TIMEOUT = 15.0  # longer than any answer may take, so a hang shows as one
SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class Fault:
    name: str
    engine: str | None = None  # a program of the fault stack's supervisord
    service: str | None = None  # a process of the suite (killed with SIGKILL)


FAULTS = (
    Fault("Kafka", engine="kafka"),
    Fault("search engine (OpenSearch)", engine="opensearch"),
    Fault("Redis", engine="redis"),
    Fault("document store (FerretDB)", engine="ferretdb"),
    Fault("messaging", service="messaging"),
    Fault("search", service="search"),
    Fault("gateway", service="gateway"),
)


def own_client(gateway: str, person: Person) -> ParleyClient:
    """A client of `person` with a timeout long enough to see a hang as one."""
    return ParleyClient(
        gateway,
        access_token=person.client.access_token,
        refresh_token=person.client.refresh_token,
        timeout=CLIENT_TIMEOUT,
    )


@dataclass
class Load:
    senders: list[Sender]
    listeners: list[Listener]
    prober: Prober

    def attempts(self) -> list[Attempt]:
        sent = [attempt for sender in self.senders for attempt in sender.attempts]
        return sent + self.prober.searches + self.prober.reads

    async def recovered(
        self, fault: str, down: float, restarted: float, back: float, back_wall: float
    ) -> Row:
        """Wait (bounded) until sends, live delivery and search work again after `back`
        (monotonic; `back_wall` is the same moment by the wall clock, as messages carry it)."""
        deadline = back + RECOVERY_WAIT
        search: float | None = None
        while True:
            sends = send_recovery(self.senders, back)
            delivery = delivery_recovery(self.senders, self.listeners, back)
            if search is None:
                asked = time.monotonic()
                if await self.prober.searchable_since(back_wall):
                    search = asked - back
            done = None not in (sends, delivery, search)
            if done or time.monotonic() > deadline:
                return Row(
                    fault,
                    down,
                    back - restarted,
                    sends,
                    delivery,
                    search,
                    window(self.attempts(), restarted - down, time.monotonic()),
                )
            await asyncio.sleep(0.5)


async def inject(fault: Fault, stack: FaultStack, processes: ProcessSuite, load: Load) -> Row:
    stopped = time.monotonic()
    if fault.engine is not None:
        await asyncio.to_thread(stack.stop, fault.engine)
    else:
        assert fault.service is not None
        await asyncio.to_thread(processes.kill, fault.service)
    await asyncio.sleep(ENGINE_DOWN_SECONDS if fault.engine else SERVICE_DOWN_SECONDS)
    restarted = time.monotonic()
    if fault.engine is not None:
        # Probe from the moment of the start (supervisorctl itself waits a few seconds).
        starting = asyncio.create_task(asyncio.to_thread(stack.start, fault.engine))
        back = await stack.wait_answering(fault.engine, 300)
        back_wall = time.time() - (time.monotonic() - back)
        await starting
    else:
        assert fault.service is not None
        await asyncio.to_thread(processes.start, fault.service)
        await asyncio.to_thread(processes.wait_ready, fault.service)
        back, back_wall = time.monotonic(), time.time()
    row = await load.recovered(fault.name, restarted - stopped, restarted, back, back_wall)
    await asyncio.sleep(SETTLE_SECONDS)
    return row


async def history(client: ParleyClient, conversation_id: str) -> list[Message]:
    messages: list[Message] = []
    while True:
        after = messages[-1].seq if messages else 0
        page = await client.list_messages(conversation_id, after_seq=after, limit=100)
        if not page.items:
            return messages
        messages += page.items


async def found_once(client: ParleyClient, sent: Sent, gate: asyncio.Semaphore) -> list[str]:
    """The ids its own token finds (exactly this message's id when indexed once). The gateway
    bounds each user's rate: a 429 is waited out as it says."""
    while True:
        async with gate:
            try:
                page = await client.search(token_of(sent.client_msg_id), limit=10)
            except RateLimited as limited:
                wait = limited.retry_after
            else:
                return [hit.message.id for hit in page.items]
        await asyncio.sleep(wait)


async def test_every_acknowledged_message_survives_every_fault_once(
    fault_stack: FaultStack, fault_processes: ProcessSuite, fault_logs: Path
) -> None:
    gateway = fault_processes.gateway_url
    owner = await tenant_with_owner(gateway, "ada")
    members = [await member_of(gateway, owner, name) for name in ("bob", "cy", "dan")]
    people = [owner, *members]
    conversation = await owner.client.create_conversation(
        "group", [m.user_id for m in members], title="faults"
    )
    clients = [own_client(gateway, person) for person in people]
    pairs = list(zip(clients, people, strict=True))
    senders = [Sender(c, p.username, conversation.id) for c, p in pairs[:3]]
    listeners = [Listener(c, p.username, conversation.id) for c, p in pairs]
    load = Load(senders, listeners, Prober(clients[3], conversation.id, senders))
    stop = asyncio.Event()
    running = [
        asyncio.create_task(worker.run(stop), name=f"load-{index}")
        for index, worker in enumerate([*senders, *listeners, load.prober])
    ]
    rows: list[Row] = []
    stored: list[Message] = []
    try:
        for _ in range(200):
            if all(listener.connected for listener in listeners):
                break
            await asyncio.sleep(0.1)
        start = time.monotonic()
        rows.append(await load.recovered("none (steady load)", 0.0, start, start, time.time()))
        for fault in FAULTS:
            rows.append(await inject(fault, fault_stack, fault_processes, load))
        stop.set()
        await asyncio.wait_for(asyncio.gather(*running), RECOVERY_WAIT)
        for listener in listeners:
            for _ in range(60):
                if await listener.sync():
                    break
                await asyncio.sleep(1)
        stored = await history(clients[0], conversation.id)
        acknowledged = [sent for sender in senders for sent in sender.sent]
        expected_total = len(acknowledged)
        for _ in range(int(RECOVERY_WAIT)):
            page = await clients[0].search(COMMON_WORD, limit=1)
            if page.total >= expected_total:
                break
            await asyncio.sleep(1)
        indexed_total = page.total
        # Spread over the members' clients: each user has a rate of their own.
        gate = asyncio.Semaphore(4)
        hits = await asyncio.gather(
            *(
                found_once(clients[index % len(clients)], sent, gate)
                for index, sent in enumerate(acknowledged)
            )
        )
    finally:
        stop.set()
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for listener in listeners:
            await listener.close()
        for client in clients:
            await client.aclose()
        await close(*people)
        lines = [
            *table(rows),
            "",
            f"{sum(len(s.sent) for s in senders)} messages acknowledged, "
            f"{sum(1 for m in stored if m.deleted)} tombstoned seqs; live deliveries per member: "
            + ", ".join(f"{li.name} {len(li.arrived)}" for li in listeners)
            + "; socket connects per member: "
            + ", ".join(f"{li.name} {li.connects}" for li in listeners),
            f"sends recover within {SEND_RECOVERY_TARGET:.0f} s of the engine or service being"
            f" back (target; asserted <= {SEND_RECOVERY_BOUND:.0f} s). Logs: {fault_logs}",
        ]
        REPORT.extend(lines)
        (fault_logs / "faults-report.md").write_text("\n".join(lines) + "\n")

    # Stored once: seqs 1..N with no gap; every acknowledged message under its own seq, once,
    # as acknowledged; the only others are tombstones (deleted: the seq of a send that failed
    # after taking it, see messaging's timeline).
    assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
    live = [m for m in stored if not m.deleted]
    contents = Counter(m.content for m in live)
    assert [c for c, n in contents.items() if n > 1] == []
    expected_contents = {content_of(sent.client_msg_id) for sent in acknowledged}
    assert sorted(set(contents) - expected_contents) == [], "stored but never acknowledged"
    assert sorted(expected_contents - set(contents)) == [], "acknowledged but not stored"
    by_seq = {m.seq: m for m in stored}
    for sent in acknowledged:
        assert by_seq[sent.message.seq].id == sent.message.id
        assert by_seq[sent.message.seq].content == content_of(sent.client_msg_id)
    # Indexed once: each token finds exactly its message, and the total is N.
    wrong = [
        (sent.client_msg_id, found)
        for sent, found in zip(acknowledged, hits, strict=True)
        if found != [sent.message.id]
    ]
    assert wrong == []
    assert indexed_total == expected_total
    # Delivered once per member: live events and sync together give every seq, none twice.
    for listener in listeners:
        assert listener.live_duplicates == [], listener.name
        missing = set(range(1, len(stored) + 1)) - listener.seen()
        assert sorted(missing) == [], listener.name
    # No 5xx but 503, and every 503 says when to retry.
    attempts = load.attempts()
    assert [a for a in attempts if a.server_error] == [], describe(
        [a for a in attempts if a.server_error]
    )
    assert [a for a in attempts if a.status == 503 and not a.retry_after] == []
    # Every fault recovered, sends within the bound.
    for row in rows:
        assert None not in (row.sends, row.delivery, row.search), row
        assert row.sends is not None
        assert row.sends <= SEND_RECOVERY_BOUND, row
