"""The steady load of the fault tests and what it records.

`Sender`: one user sending to one conversation, one message at a time, each with a
`client_msg_id`, retried with the same id on 503, timeouts and refused connections until it is
acknowledged, the way a well-behaved client does. Every attempt is recorded (when it began and
ended, its status, whether a 503 carried `Retry-After`).

`Listener`: one member's socket, kept connected (reconnected after the gateway restarts) and
gap-filled with `sync` after each connect; it records when each message arrived live.

Recovery times are computed afterwards from these records (see `recovery`), so measuring them
adds no load.
"""

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from parley_client import ParleyClient, ParleyError
from parley_client.socket import ParleySocket, SocketEvent
from parley_contracts.resources import Message

COMMON_WORD = "faultload"
SEND_PAUSE = 0.15  # between one acknowledged message and a sender's next
RETRY_PAUSE = 0.2  # after a timeout or a refused connection
MAX_RETRY_AFTER = 2.0  # honour Retry-After, but keep probing an outage at least this often

REPORT: list[str] = []  # printed at the end of the session (see conftest)


def token_of(client_msg_id: str) -> str:
    """The word only this message contains (search finds it by this)."""
    return "u" + hashlib.sha256(client_msg_id.encode()).hexdigest()[:14]


def content_of(client_msg_id: str) -> str:
    return f"{COMMON_WORD} {token_of(client_msg_id)}"


@dataclass(frozen=True)
class Attempt:
    """One HTTP call of the load: `status` is the HTTP status, or 0 for a timeout or a
    connection that failed before any answer."""

    kind: str  # "send", "search" or "read"
    began: float  # monotonic
    ended: float
    status: int
    retry_after: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def server_error(self) -> bool:
        """A 5xx other than 503: what no fault may ever cause."""
        return self.status >= 500 and self.status != 503


@dataclass
class Sent:
    client_msg_id: str
    began: float
    acked: float
    message: Message


@dataclass
class Sender:
    client: ParleyClient
    name: str
    conversation_id: str
    attempts: list[Attempt] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set; the message being sent then is still finished."""
        index = 0
        while not stop.is_set():
            client_msg_id = f"{self.name}-{index:05d}"
            began = time.monotonic()
            message = await self.send_until_acknowledged(client_msg_id)
            self.sent.append(Sent(client_msg_id, began, time.monotonic(), message))
            index += 1
            await asyncio.sleep(SEND_PAUSE)

    async def send_until_acknowledged(self, client_msg_id: str) -> Message:
        path = f"/v1/conversations/{self.conversation_id}/messages"
        body = {"content": content_of(client_msg_id), "client_msg_id": client_msg_id}
        while True:
            began = time.monotonic()
            try:
                response = await self.client.raw("POST", path, json=body)
            except httpx.HTTPError as exc:
                failed = Attempt("send", began, time.monotonic(), 0, error=type(exc).__name__)
                self.attempts.append(failed)
                await asyncio.sleep(RETRY_PAUSE)
                continue
            retry_after = response.headers.get("retry-after")
            attempt = Attempt(
                "send",
                began,
                time.monotonic(),
                response.status_code,
                retry_after=retry_after is not None,
                error="" if response.is_success else response.text[:300],
            )
            self.attempts.append(attempt)
            if attempt.ok:
                return Message.model_validate(response.json())
            if response.status_code == 401 and self.client.refresh_token:
                with contextlib.suppress(ParleyError, httpx.HTTPError):
                    await self.client.refresh()
                continue
            if response.status_code in {429, 503}:
                wait = float(retry_after) if retry_after and retry_after.isdigit() else 1.0
                await asyncio.sleep(min(wait, MAX_RETRY_AFTER))
                continue
            if response.status_code >= 500:  # recorded (the test fails on it); keep going
                await asyncio.sleep(RETRY_PAUSE)
                continue
            raise AssertionError(f"send {client_msg_id}: {response.status_code} {response.text}")


@dataclass
class Listener:
    """One member's live view of a conversation, across as many sockets as it takes."""

    client: ParleyClient
    name: str
    conversation_id: str
    arrived: dict[int, float] = field(default_factory=dict)  # seq -> first live arrival
    live_duplicates: list[int] = field(default_factory=list)  # a seq again, new event id
    synced: dict[int, Message] = field(default_factory=dict)
    connects: int = 0
    sync_failures: int = 0
    _event_ids: set[str] = field(default_factory=set)
    _socket: ParleySocket | None = None
    _needs_sync: bool = False

    def _on_created(self, event: SocketEvent) -> None:
        if event.event_id in self._event_ids:  # redelivered (at-least-once): not a duplicate
            return
        self._event_ids.add(event.event_id)
        message = event.message()
        if message.conversation_id != self.conversation_id:
            return
        if message.seq in self.arrived:
            self.live_duplicates.append(message.seq)
            return
        self.arrived[message.seq] = time.monotonic()

    def seen(self) -> set[int]:
        return set(self.arrived) | set(self.synced)

    def contiguous(self) -> int:
        """The highest seq up to which nothing is missing."""
        seen, seq = self.seen(), 0
        while seq + 1 in seen:
            seq += 1
        return seq

    @property
    def connected(self) -> bool:
        return self._socket is not None and self._socket.connected

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not self.connected:
                await self._connect()
            if self.connected and self._needs_sync:
                await self.sync()
            await asyncio.sleep(0.3)

    async def _connect(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.disconnect()
        assert self.client.access_token is not None
        socket = ParleySocket(self.client.base_url, self.client.access_token)
        socket.on("message.created", self._on_created)
        try:
            await socket.connect(timeout=5)
        except Exception:  # refused or unreachable while the gateway or an engine is down
            with contextlib.suppress(Exception):
                await socket.disconnect()  # closes its HTTP session
            return
        self._socket, self._needs_sync = socket, True
        self.connects += 1

    async def sync(self) -> bool:
        """Fill the gap after the last contiguous seq; False when the gateway refused."""
        if self._socket is None:
            return False
        try:
            messages = await self._socket.sync(self.conversation_id, self.contiguous())
        except Exception:  # refused (messaging down), timed out or disconnected: next time
            self.sync_failures += 1
            return False
        for message in messages:
            self.synced.setdefault(message.seq, message)
        self._needs_sync = False
        return True

    async def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.disconnect()


def first_success_after(attempts: list[Attempt], moment: float) -> float | None:
    ends = [a.ended for a in attempts if a.ok and a.ended >= moment]
    return min(ends) if ends else None


@dataclass(frozen=True)
class Window:
    """What the load saw between two moments (monotonic)."""

    refusals: int  # 503 answers
    refusals_without_retry_after: int
    failures: int  # timeouts and failed connections
    server_errors: list[Attempt]  # 5xx other than 503
    slowest_failure: Attempt | None  # the longest attempt that did not succeed


def window(attempts: list[Attempt], start: float, end: float) -> Window:
    inside = [a for a in attempts if start <= a.began <= end]
    failed = [a for a in inside if not a.ok]
    return Window(
        refusals=sum(1 for a in inside if a.status == 503),
        refusals_without_retry_after=sum(
            1 for a in inside if a.status == 503 and not a.retry_after
        ),
        failures=sum(1 for a in inside if a.status == 0),
        server_errors=[a for a in inside if a.server_error],
        slowest_failure=max(failed, key=lambda a: a.ended - a.began, default=None),
    )


def send_recovery(senders: list[Sender], back: float) -> float | None:
    """Seconds from `back` until every sender has had a send acknowledged."""
    firsts = [first_success_after(s.attempts, back) for s in senders]
    if any(first is None for first in firsts):
        return None
    return max(first for first in firsts if first is not None) - back


def delivery_recovery(
    senders: list[Sender], listeners: list[Listener], back: float
) -> float | None:
    """Seconds from `back` until a message sent after it arrived live on every member's socket."""
    best: float | None = None
    for sender in senders:
        for sent in sender.sent:
            if sent.began < back:
                continue
            arrivals = [listener.arrived.get(sent.message.seq) for listener in listeners]
            if any(arrival is None for arrival in arrivals):
                continue
            last = max(arrival for arrival in arrivals if arrival is not None) - back
            best = last if best is None else min(best, last)
    return best


def latest_sent_before(senders: list[Sender], moment: float) -> Sent | None:
    """The newest message acknowledged before `moment`."""
    candidates = [sent for s in senders for sent in s.sent if sent.acked <= moment]
    return max(candidates, key=lambda sent: sent.acked) if candidates else None


@dataclass
class Prober:
    """A reader beside the senders: searches for a recently acknowledged message by its token
    and reads the newest page of history, in turn, about twice a second; its attempts show how
    reads answer during a fault. `searchable_since` is how recovery of indexing is seen: a
    search for messages created after a moment."""

    client: ParleyClient
    conversation_id: str
    senders: list[Sender]
    searches: list[Attempt] = field(default_factory=list)
    reads: list[Attempt] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            recent = latest_sent_before(self.senders, time.monotonic() - 1.0)
            if recent is not None:
                await self._call(
                    self.searches,
                    "/v1/search/messages",
                    {"q": token_of(recent.client_msg_id), "limit": 5},
                )
            await asyncio.sleep(0.25)
            await self._call(
                self.reads, f"/v1/conversations/{self.conversation_id}/messages", {"limit": 20}
            )
            await asyncio.sleep(0.25)

    async def _call(self, into: list[Attempt], path: str, params: dict[str, Any]) -> Any:
        kind = "search" if into is self.searches else "read"
        began = time.monotonic()
        try:
            response = await self.client.raw("GET", path, params=params)
        except httpx.HTTPError as exc:
            into.append(Attempt(kind, began, time.monotonic(), 0, error=type(exc).__name__))
            return None
        into.append(
            Attempt(
                kind,
                began,
                time.monotonic(),
                response.status_code,
                retry_after="retry-after" in response.headers,
                error="" if response.is_success else response.text[:300],
            )
        )
        if response.status_code == 401 and self.client.refresh_token:
            with contextlib.suppress(ParleyError, httpx.HTTPError):
                await self.client.refresh()
        return response.json() if response.is_success else None

    async def searchable_since(self, wall_clock: float) -> bool:
        """Whether a message created after `wall_clock` (epoch seconds) is searchable."""
        after = datetime.fromtimestamp(wall_clock, UTC).isoformat()
        page = await self._call(
            self.searches, "/v1/search/messages", {"q": COMMON_WORD, "after": after, "limit": 1}
        )
        return bool(page and page["items"])


def describe(attempts: list[Attempt]) -> str:
    return "; ".join(f"{a.status} {a.error[:160]}" for a in attempts[:5])


@dataclass(frozen=True)
class Row:
    """One fault's line of the report; recovery times are None when they never came."""

    fault: str
    down: float  # how long it was stopped
    back_after: float  # from the restart to the engine answering (the service ready)
    sends: float | None
    delivery: float | None
    search: float | None
    seen: Window


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def slowest(attempt: Attempt | None) -> str:
    if attempt is None:
        return "-"
    outcome = attempt.status or "no answer"
    return f"{attempt.ended - attempt.began:.1f} ({attempt.kind}, {outcome})"


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| fault | down (s) | back after restart (s) | sends ok after back (s) "
        "| delivered live after back (s) | searchable after back (s) | 503s (without Retry-After) "
        "| timeouts / refused connections | other 5xx | slowest failed call (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        seen = row.seen
        lines.append(
            f"| {row.fault} | {row.down:.1f} | {row.back_after:.1f} | {seconds(row.sends)} "
            f"| {seconds(row.delivery)} | {seconds(row.search)} "
            f"| {seen.refusals} ({seen.refusals_without_retry_after}) | {seen.failures} "
            f"| {len(seen.server_errors)} | {slowest(seen.slowest_failure)} |"
        )
    return lines
