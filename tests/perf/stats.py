"""Latency summaries and error tallies; exact percentiles from every sample (nearest rank).

Every request's latency is kept (a 10 s scenario at 1,000 req/s is 10,000 floats), so the
percentiles are exact rather than bucketed; no histogram library is needed at this size.
"""

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (`fraction` in 0..1); None when empty."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(samples: Iterable[float]) -> dict[str, float | int | None]:
    """Seconds in, milliseconds out: count, p50, p95, p99, max, mean."""
    ordered = sorted(samples)
    if not ordered:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 2)

    return {
        "count": len(ordered),
        "p50_ms": ms(percentile(ordered, 0.50)),
        "p95_ms": ms(percentile(ordered, 0.95)),
        "p99_ms": ms(percentile(ordered, 0.99)),
        "max_ms": ms(ordered[-1]),
        "mean_ms": ms(sum(ordered) / len(ordered)),
    }


def merge_counts(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for count in counts:
        total.update(count)
    return dict(sorted(total.items()))


def error_label(error: BaseException) -> str:
    """What a failed request is counted as: its HTTP status, or the transport failure's name."""
    status = getattr(error, "status", None)
    if isinstance(status, int):
        return str(status)
    name = type(error).__name__
    return "timeout" if "Timeout" in name else name


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else 0.0


def compact(value: Any) -> Any:
    """Floats rounded for the JSON report (nested dicts and lists included)."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [compact(v) for v in value]
    return value
