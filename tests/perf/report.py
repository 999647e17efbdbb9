"""The printed table (each figure next to the issue's target and its engine ceiling) and the JSON.

Targets come from issue 14; they are printed with "met: yes/no", never asserted. A figure
without a target in the issue shows "-".
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Figures = dict[str, Any]


@dataclass(frozen=True)
class Target:
    text: str
    met: Callable[[Figures], bool | None]


def _at_least(
    key: str, floor: float, zero_errors: bool = False
) -> Callable[[Figures], bool | None]:
    def met(figures: Figures) -> bool | None:
        value = figures.get(key)
        if value is None:
            return None
        return value >= floor and (not zero_errors or not figures.get("errors"))

    return met


def _latency_at_most(path: tuple[str, ...], ceiling_ms: float) -> Callable[[Figures], bool | None]:
    def met(figures: Figures) -> bool | None:
        value: Any = figures
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return None if value is None else value <= ceiling_ms

    return met


def _fanout_met(figures: Figures) -> bool | None:
    p99 = figures.get("delivery_latency", {}).get("p99_ms")
    if p99 is None:
        return False
    return (
        p99 <= 100
        and figures.get("send_rate", 0) >= 0.95 * 500
        and figures.get("connected", 0) >= 200
        and figures.get("missed") == 0
        and figures.get("duplicated") == 0
    )


def _drain_met(figures: Figures) -> bool | None:
    seconds = figures.get("drain_seconds")
    if seconds is None:
        return None
    late = figures.get("processed_after_give_up")
    return seconds <= 2.0 and bool(figures.get("drained")) and not late


def _store_idle_met(figures: Figures) -> bool | None:
    cores = figures.get("document_store_cores")
    return None if cores is None else cores < 0.05


TARGETS: dict[str, Target] = {
    "idle_store_cpu": Target("< 5 % of a core", _store_idle_met),
    "idle_send": Target("p50 <= 20 ms", _latency_at_most(("latency", "p50_ms"), 20)),
    "search_visibility": Target("p95 <= 1.0 s", _latency_at_most(("latency", "p95_ms"), 1000)),
    "send_spread_c16": Target(">= 1,000 msg/s, 0 errors", _at_least("throughput", 1000, True)),
    "history_v1_c16": Target(">= 3,000 req/s", _at_least("throughput", 3000)),
    "history_v1_c64": Target(">= 3,000 req/s", _at_least("throughput", 3000)),
    "history_api_c16": Target(">= 1,000 req/s", _at_least("throughput", 1000)),
    "history_api_c64": Target(">= 1,000 req/s", _at_least("throughput", 1000)),
    "fanout": Target(
        "p99 <= 100 ms at 500 msg/s x 200 sockets, 0 missed, 0 duplicated", _fanout_met
    ),
    "drain": Target("drained <= 2 s, nothing processed after give-up", _drain_met),
}

# Issue 16: search stays visible within 1 s (p95) under the send load; one figure per send
# scenario (`search_visibility_<send scenario>`), measured beside it.
VISIBILITY_UNDER_LOAD = Target("p95 <= 1.0 s", _latency_at_most(("latency", "p95_ms"), 1000))
VISIBILITY_UNDER_LOAD_PREFIX = "search_visibility_send_"


def target_of(name: str) -> Target | None:
    if name.startswith(VISIBILITY_UNDER_LOAD_PREFIX):
        return VISIBILITY_UNDER_LOAD
    return TARGETS.get(name)


# Which raw engine each scenario is read against.
CEILING_OF = {
    "send": "document_insert",
    "history": "redis_get",
    "fanout": "kafka_produce",
}


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def _errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{k}:{v}" for k, v in errors.items()) if errors else "0"


def _ratio(measured: float | None, ceiling: float | None) -> float | None:
    if measured is None or not ceiling:
        return None
    return measured / ceiling


def _cpu(figures: Figures) -> str:
    cpu = figures.get("cpu") or {}
    loadgen, machine = cpu.get("loadgen_cores"), cpu.get("machine_cores")
    if loadgen is None or machine is None:
        return "-"
    return f"{loadgen:.2f}/{machine:.2f}"


def build_rows(results: Figures) -> list[dict[str, str]]:
    """One row per figure: scenario, measured, latency, errors, target, met, vs ceiling, cpu."""
    scenarios: dict[str, Figures] = results.get("scenarios", {})
    ceilings: dict[str, Figures] = results.get("ceilings", {})
    sequential: dict[str, Figures] = ceilings.get("sequential", {})
    rows: list[dict[str, str]] = []

    def add(name: str, label: str, measured: str, latency: str, errors: str, vs: str) -> None:
        figures = scenarios.get(name, {})
        target = target_of(name)
        met = target.met(figures) if target and figures else None
        rows.append(
            {
                "scenario": name,
                "figure": label,
                "measured": measured,
                "latency p50/p99/max": latency,
                "errors": errors,
                "target": target.text if target else "-",
                "met": "-" if met is None else ("yes" if met else "NO"),
                "vs ceiling": vs,
                "cpu loadgen/all": _cpu(figures),
            }
        )

    def latency(figures: Figures) -> str:
        summary = figures.get("latency") or {}
        return " / ".join(_ms(summary.get(k)) for k in ("p50_ms", "p99_ms", "max_ms"))

    def throughput_vs(kind: str, value: float | None) -> str:
        engine = CEILING_OF[kind]
        ceiling = ceilings.get(engine, {}).get("throughput")
        ratio = _ratio(value, ceiling)
        if ratio is None:
            return "-"
        return f"{ratio * 100:.1f} % of {engine} {ceiling:,.0f}/s"

    if "idle_store_cpu" in scenarios:
        cores = scenarios["idle_store_cpu"].get("document_store_cores")
        add(
            "idle_store_cpu",
            "document store CPU, idle",
            "-" if cores is None else f"{cores * 100:.1f} %",
            "-",
            "0",
            "-",
        )
    if "idle_send" in scenarios:
        figures = scenarios["idle_send"]
        p50 = figures.get("latency", {}).get("p50_ms")
        floor = sequential.get("document_insert", {}).get("p50_ms")
        ratio = _ratio(p50, floor)
        add(
            "idle_send",
            "one send on an idle system",
            _ms(p50),
            latency(figures),
            _errors(figures.get("errors", {})),
            "-" if ratio is None else f"{ratio:.0f}x an insert ({_ms(floor)})",
        )
    if "search_visibility" in scenarios:
        figures = scenarios["search_visibility"]
        summary = figures.get("latency", {})
        floor = sequential.get("search_visibility", {}).get("p95_ms")
        ratio = _ratio(summary.get("p95_ms"), floor)
        add(
            "search_visibility",
            "searchable after 201 (p50 / p95)",
            f"{_ms(summary.get('p50_ms'))} / {_ms(summary.get('p95_ms'))}",
            latency(figures),
            _errors(figures.get("errors", {})),
            "-" if ratio is None else f"{ratio:.1f}x the engine's p95 ({_ms(floor)})",
        )
    for name, figures in scenarios.items():
        kind = figures.get("kind")
        if kind not in ("send", "history"):
            continue
        add(
            name,
            figures.get("label", name),
            f"{figures.get('throughput', 0):,.1f} {figures.get('unit', '')}",
            latency(figures),
            _errors(figures.get("errors", {})),
            throughput_vs(kind, figures.get("throughput")),
        )
    for name, figures in scenarios.items():
        if not name.startswith(VISIBILITY_UNDER_LOAD_PREFIX):
            continue
        summary = figures.get("latency", {})
        add(
            name,
            f"searchable after 201 during {figures.get('during', '?')} (p50 / p95)",
            f"{_ms(summary.get('p50_ms'))} / {_ms(summary.get('p95_ms'))}",
            latency(figures),
            _errors(figures.get("errors", {})),
            "-",
        )
    if "fanout" in scenarios:
        figures = scenarios["fanout"]
        summary = figures.get("delivery_latency", {})
        add(
            "fanout",
            f"socket delivery, {figures.get('connected', 0)} sockets at "
            f"{figures.get('send_rate', 0):,.1f} msg/s sent",
            f"p99 {_ms(summary.get('p99_ms'))}, missed {figures.get('missed')}, "
            f"duplicated {figures.get('duplicated')}",
            " / ".join(_ms(summary.get(k)) for k in ("p50_ms", "p99_ms", "max_ms")),
            _errors(figures.get("send_errors", {})),
            throughput_vs("fanout", figures.get("send_rate")),
        )
    if "drain" in scenarios:
        figures = scenarios["drain"]
        seconds = figures.get("drain_seconds")
        drained = figures.get("drained")
        store = figures.get("store_cpu_drain_seconds")
        store_text = (
            f"; store CPU {store:.1f} s"
            if store is not None
            else (
                "; store CPU not back"
                if figures.get("store_cpu_baseline_cores") is not None
                else ""
            )
        )
        add(
            "drain",
            f"idle again after a {figures.get('burst', {}).get('seconds', '?')} s burst",
            ("-" if seconds is None else f"{seconds:.1f} s{'' if drained else ' (not drained)'}")
            + store_text
            + (
                f", processed after give-up {figures['processed_after_give_up']}"
                if figures.get("processed_after_give_up") is not None
                else f", abandoned but committed {figures.get('abandoned_but_committed')}"
            ),
            "-",
            _errors(figures.get("burst", {}).get("errors", {})),
            "-",
        )
    return rows


def render_table(rows: list[dict[str, str]], ceilings: Figures) -> str:
    columns = [
        "figure",
        "measured",
        "latency p50/p99/max",
        "errors",
        "target",
        "met",
        "vs ceiling",
        "cpu loadgen/all",
    ]
    widths = {c: max(len(c), *(len(row[c]) for row in rows)) if rows else len(c) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines.append("  ".join("-" * widths[c] for c in columns))
    lines += ["  ".join(row[c].ljust(widths[c]) for c in columns) for row in rows]
    engine_lines = ["", "raw engine ceilings (same run, same load generator):"]
    sequential = ceilings.get("sequential", {})
    for engine, figures in ceilings.items():
        if engine in ("sequential", "skipped"):
            continue
        alone = sequential.get(engine, {}).get("p50_ms")
        engine_lines.append(
            f"  {engine:<16} {figures.get('throughput', 0):>12,.0f} {figures.get('unit', '')}"
            f"   p50 under load {_ms(figures.get('latency', {}).get('p50_ms'))},"
            f" one at a time {_ms(alone)}, errors {_errors(figures.get('errors', {}))}"
        )
    visibility = sequential.get("search_visibility")
    if visibility:
        engine_lines.append(
            f"  {'search visible':<16} p50 {_ms(visibility.get('p50_ms'))}, "
            f"p95 {_ms(visibility.get('p95_ms'))} (index one document, poll until found)"
        )
    for engine, reason in ceilings.get("skipped", {}).items():
        engine_lines.append(f"  {engine:<16} not measured: {reason}")
    return "\n".join(lines + engine_lines)


def render_markdown(rows: list[dict[str, str]]) -> str:
    """The same table as Markdown (for docs/performance.md): `python -m perf --markdown FILE`."""
    columns = ["figure", "measured", "latency p50/p99/max", "errors", "target", "met"]
    columns += ["vs ceiling", "cpu loadgen/all"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [row[c].replace("|", "/") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(results: Figures, directory: Path, stamp: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"results-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
    return path
