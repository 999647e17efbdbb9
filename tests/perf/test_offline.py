"""The bench's arithmetic and report, without engines: percentiles, targets beside figures,
the command line's defaults."""

import httpx
import pytest

from parley_client import ParleyError
from parley_client.errors import error_for
from perf.load import pause_after
from perf.options import parse_options
from perf.report import TARGETS, build_rows, render_markdown, render_table
from perf.stats import latency_summary, percentile


def test_percentiles_are_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert percentile(ordered, 0.50) == 50
    assert percentile(ordered, 0.99) == 99
    assert percentile(ordered, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    assert percentile([], 0.5) is None
    summary = latency_summary([0.003, 0.001, 0.002])
    assert (summary["count"], summary["p50_ms"], summary["max_ms"]) == (3, 2.0, 3.0)


def throughput(value: float, errors: dict[str, int] | None = None) -> dict[str, object]:
    return {
        "kind": "send",
        "label": "x",
        "throughput": value,
        "unit": "msg/s",
        "latency": {"p50_ms": 5.0, "p99_ms": 9.0, "max_ms": 12.0},
        "errors": errors or {},
        "cpu": {"loadgen_cores": 0.5, "machine_cores": 1.9},
    }


def test_every_target_of_the_issue_is_printed_next_to_its_figure() -> None:
    history = {**throughput(3500), "kind": "history", "unit": "req/s"}
    results = {
        "ceilings": {
            "document_insert": {"throughput": 2000.0, "unit": "ops/s", "latency": {}, "errors": {}},
            "redis_get": {"throughput": 10000.0, "unit": "ops/s", "latency": {}, "errors": {}},
            "kafka_produce": {"throughput": 4000.0, "unit": "ops/s", "latency": {}, "errors": {}},
            "sequential": {"document_insert": {"p50_ms": 0.5}},
        },
        "scenarios": {
            "idle_store_cpu": {"document_store_cores": 0.4},
            "idle_send": {"latency": {"p50_ms": 10.0, "p99_ms": 20.0, "max_ms": 30.0}},
            "search_visibility": {"latency": {"p50_ms": 500.0, "p95_ms": 1500.0}},
            "send_spread_c16": throughput(1200, {"504": 3}),
            "send_one_c16": throughput(900),
            "search_visibility_send_spread_c16": {
                "kind": "visibility",
                "during": "send_spread_c16",
                "latency": {"p50_ms": 400.0, "p95_ms": 900.0},
            },
            "search_visibility_send_one_c16": {
                "kind": "visibility",
                "latency": {"p50_ms": 800.0, "p95_ms": 1200.0},
            },
            "history_v1_c16": history,
            "history_v1_c64": history,
            "history_api_c16": history,
            "history_api_c64": history,
            "fanout": {
                "connected": 200,
                "send_rate": 500.0,
                "delivery_latency": {"p50_ms": 20.0, "p99_ms": 80.0, "max_ms": 90.0},
                "missed": 0,
                "duplicated": 0,
            },
            "drain": {"drained": True, "drain_seconds": 1.5, "burst": {"seconds": 3.0}},
        },
    }
    rows = {row["scenario"]: row for row in build_rows(results)}
    for name, target in TARGETS.items():
        assert rows[name]["target"] == target.text
    assert rows["send_spread_c16"]["met"] == "NO"  # fast enough, but not without errors
    assert rows["send_one_c16"]["target"] == "-"
    assert rows["idle_store_cpu"]["met"] == "NO"
    assert rows["idle_send"]["met"] == "yes"
    assert rows["search_visibility"]["met"] == "NO"
    assert rows["search_visibility_send_spread_c16"]["target"] == "p95 <= 1.0 s"
    assert rows["search_visibility_send_spread_c16"]["met"] == "yes"
    assert rows["search_visibility_send_spread_c16"]["measured"] == "400.0 ms / 900.0 ms"
    assert rows["search_visibility_send_one_c16"]["met"] == "NO"
    assert rows["history_v1_c16"]["met"] == "yes"
    assert rows["fanout"]["met"] == "yes"
    assert rows["drain"]["met"] == "yes"
    assert rows["send_spread_c16"]["vs ceiling"] == "60.0 % of document_insert 2,000/s"
    assert rows["idle_send"]["vs ceiling"].startswith("20x")
    table = render_table(list(rows.values()), results["ceilings"])
    assert "p50 <= 20 ms" in table
    assert "document_insert" in table
    markdown = render_markdown(list(rows.values())).splitlines()
    assert len(markdown) == 2 + len(rows)
    assert markdown[0].startswith("| figure | measured |")


def test_the_command_line_defaults_are_the_issue_s_scenarios() -> None:
    options = parse_options([])
    assert options.client_counts == (16, 64)
    assert options.conversations == 8
    assert options.fanout_sockets == 200
    assert options.fanout_rate == 500
    assert options.base == "http://127.0.0.1:8000"
    assert options.metrics_url == "http://127.0.0.1:9002/metrics"
    other = parse_options(["--base", "http://127.0.0.1:9000/", "--only", "send,history"])
    assert other.base == "http://127.0.0.1:9000"
    assert other.metrics_url is None
    assert other.scenarios == ("send", "history")
    smoke = parse_options(["--smoke"])
    assert (smoke.duration, smoke.client_counts) == (1.0, (2,))
    with pytest.raises(SystemExit):
        parse_options(["--only", "everything"])


def refusal(status: int, retry_after: str | None) -> ParleyError:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    response = httpx.Response(status, headers=headers, json={"title": "busy"})
    return error_for(response)


def test_a_refused_client_waits_as_told_but_never_long() -> None:
    assert pause_after(refusal(503, "0.1")) == 0.1
    assert pause_after(refusal(429, "30")) == 1.0
    assert pause_after(refusal(503, None)) == 0.01
    assert pause_after(refusal(503, "soon")) == 0.01
    assert pause_after(httpx.ConnectError("refused")) == 0.01
