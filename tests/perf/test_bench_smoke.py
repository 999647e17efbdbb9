"""`make bench` proves itself: every scenario for about a second with two clients against a
suite of its own, and the report carries every figure (the system's speed is not judged here:
targets are for the benchmark, never a timed test)."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from e2e_suite import ProcessSuite

from parley_kit.testing.stack import StackUrls
from perf.bench import measure
from perf.machine import document_store_pid
from perf.options import BenchOptions, EngineUrls

pytestmark = pytest.mark.e2e

LATENCY_FIELDS = ("count", "p50_ms", "p95_ms", "p99_ms", "max_ms")
ENGINES = ("document_insert", "redis_get", "kafka_produce", "search_bulk")


def smoke_options(suite: ProcessSuite, urls: StackUrls, out: Path) -> BenchOptions:
    return dataclasses.replace(
        BenchOptions(
            base=suite.gateway_url,
            engines=EngineUrls(
                urls.mongo_url, urls.redis_url, urls.kafka_bootstrap, urls.elasticsearch_url
            ),
            metrics_url=f"{suite.ops_url('messaging')}/metrics",
            out_dir=out,
            start_suite=False,
        ).with_smoke(),
        workers=2,  # the multi-process path, barrier included
    )


def assert_latency(summary: dict[str, Any], where: str) -> None:
    for field in LATENCY_FIELDS:
        assert summary.get(field) is not None, f"{where}: {field} missing in {summary}"
    assert summary["count"] > 0, where


async def test_every_scenario_reports_every_figure_and_no_errors(
    bench_suite: ProcessSuite, stack_urls: StackUrls, tmp_path: Path
) -> None:
    results, path = await measure(smoke_options(bench_suite, stack_urls, tmp_path))

    assert json.loads(path.read_text())["scenarios"] == results["scenarios"]
    assert results["run"]["failures"] == {}
    scenarios = results["scenarios"]

    for engine in ENGINES:
        ceiling = results["ceilings"][engine]
        assert ceiling["throughput"] > 0, engine
        assert ceiling["errors"] == {}, engine
    for alone in ("document_insert", "redis_get", "kafka_produce", "search_visibility"):
        assert_latency(results["ceilings"]["sequential"][alone], f"sequential {alone}")

    if document_store_pid() is not None:
        assert scenarios["idle_store_cpu"]["document_store_cores"] is not None
    assert_latency(scenarios["idle_send"]["latency"], "idle_send")
    assert scenarios["idle_send"]["errors"] == {}
    assert_latency(scenarios["search_visibility"]["latency"], "search_visibility")
    assert scenarios["search_visibility"]["not_visible"] == 0
    assert scenarios["search_visibility"]["errors"] == {}

    for name in ("send_spread_c2", "send_one_c2", "history_v1_c2", "history_api_c2"):
        figures = scenarios[name]
        assert figures["throughput"] > 0, name
        assert_latency(figures["latency"], name)
        assert figures["errors"] == {}, name
        assert figures["cpu"]["loadgen_cores"] is not None, name
    for name in ("send_spread_c2", "send_one_c2"):
        beside = scenarios[f"search_visibility_{name}"]
        assert beside["probes"] >= 1, name
        assert beside["not_visible"] == 0, name
        assert_latency(beside["latency"], f"search visibility during {name}")
    assert scenarios["history_v1_c2"]["mean_page_items"] > 0
    assert scenarios["history_api_c2"]["mean_page_items"] > 0

    fanout = scenarios["fanout"]
    assert fanout["connected"] == fanout["sockets"] == 4
    assert fanout["send_rate"] > 0
    assert_latency(fanout["delivery_latency"], "fanout")
    assert fanout["expected_deliveries"] > 0
    assert (fanout["missed"], fanout["duplicated"], fanout["misrouted"]) == (0, 0, 0)
    assert fanout["errors"] == {}

    drain = scenarios["drain"]
    assert drain["drained"] is True
    assert drain["drain_seconds"] is not None
    assert drain["processed_after_give_up"] is not None
    assert drain["burst"]["accepted"] + drain["burst"]["gave_up"] > 0

    assert {row["scenario"] for row in results["table"]} == set(scenarios)
