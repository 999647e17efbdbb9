"""Request deadlines: how long the caller of a request will still wait for its answer.

The gateway stamps every call it forwards with `X-Parley-Deadline`, the absolute time (epoch
milliseconds) after which it will have given up. A service refuses a request that arrives past
it and runs the rest under `pymongo.timeout`, so every store call carries the time left as
`maxTimeMS`: the document engine stops a query nobody waits for any more (FerretDB keeps
executing a query whose client has gone, but honours `maxTimeMS`).

An absolute time also counts the time a request spent queued before it was read, which a
relative budget cannot; the hosts' clocks are NTP-synced, and budgets are seconds, not
milliseconds.
"""

import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar

import pymongo

DEADLINE_HEADER = "x-parley-deadline"
_DEADLINE_HEADER_BYTES = DEADLINE_HEADER.encode()

# pymongo refuses a zero or negative timeout; this fails the first store call at once instead.
_EXHAUSTED = 1e-6

_deadline: ContextVar[float | None] = ContextVar("parley_deadline", default=None)


def current_deadline() -> float | None:
    """The deadline (epoch seconds) of the request being served, if any."""
    return _deadline.get()


def remaining(now: float | None = None) -> float | None:
    """Seconds left before the current request's deadline, or None outside a request."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return deadline - (time.time() if now is None else now)


def parse_deadline(value: bytes | str | None) -> float | None:
    """A header value (epoch milliseconds) as epoch seconds; None when absent or malformed."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text.isdigit() or len(text) > 16:
        return None
    return int(text) / 1000


def deadline_in(headers: list[tuple[bytes, bytes]]) -> float | None:
    """The deadline an ASGI scope's raw headers carry."""
    for name, value in headers:
        if name == _DEADLINE_HEADER_BYTES:
            return parse_deadline(value)
    return None


def header_value(deadline: float) -> str:
    """`deadline` (epoch seconds) as the header's value."""
    return str(int(deadline * 1000))


def forward_deadline(headers: MutableMapping[str, str]) -> None:
    """Pass the current request's deadline on to a call this service makes to another one."""
    deadline = _deadline.get()
    if deadline is not None:
        headers[DEADLINE_HEADER] = header_value(deadline)


@contextmanager
def within(deadline: float) -> Iterator[None]:
    """Run a block under `deadline` (epoch seconds): every pymongo operation in it, async ones
    included, carries the time left (`pymongo.timeout` is contextvar-based, and nests so an
    inner timeout can only shorten it)."""
    token = _deadline.set(deadline)
    try:
        with pymongo.timeout(max(deadline - time.time(), _EXHAUSTED)):
            yield
    finally:
        _deadline.reset(token)
