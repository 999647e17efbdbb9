"""The coordinator: sets up a tenant, runs each scenario across the worker processes, merges
what they return into figures. Scenarios run in this order, each after the system is idle
again (a probe send answers at its idle latency; at most `settle_max` seconds):

ceilings -> idle (document store CPU, one send at a time) -> search visibility -> send (over 8
conversations and into one, at each client count) -> history (`/v1` and `/api`) -> fan-out ->
drain (a burst last, because it is meant to leave a backlog behind on a system without
backpressure).
"""

import asyncio
import math
import multiprocessing
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from parley_client import ParleyClient, ParleyError
from perf.ceilings import (
    CeilingJob,
    ScratchNames,
    ceiling_figures,
    drop_scratch,
    prepare_scratch,
    run_ceiling,
    sequential_latencies,
)
from perf.load import (
    ClientPlan,
    ClosedLoopJob,
    ClosedLoopResult,
    FanoutJob,
    FanoutResult,
    Listener,
    Sender,
    run_closed_loop,
    run_fanout,
    warm_up,
    worker_started,
)
from perf.machine import CpuWindow, describe_machine, document_store_pid, git_revision
from perf.options import BenchOptions
from perf.population import Population, create_population
from perf.report import build_rows, render_table, write_json
from perf.stats import compact, error_label, latency_summary, merge_counts, rate
from perf.suite_process import ROOT, ops_base

Figures = dict[str, Any]
J = TypeVar("J")
R = TypeVar("R")

CEILING_ENGINES = ("document_insert", "redis_get", "kafka_produce", "search_bulk")
FANOUT_SENDS_PER_USER = 20.0  # per second: well under the gateway's 50/s per user
PROBE_INTERVAL = 0.25  # seconds between drain probes (each also a CPU window of the store)
VISIBILITY_PROBE_INTERVAL = 0.5  # seconds between search-visibility probes under send load
STORE_CPU_PATIENCE = 20.0  # seconds the store's CPU may take to settle after the probes did


class Bench:
    def __init__(self, options: BenchOptions, run_id: str) -> None:
        self.options = options
        self.run_id = run_id
        local_store = urlsplit(options.engines.mongo_url).hostname in ("127.0.0.1", "localhost")
        self.store_pid = document_store_pid() if local_store else None
        self.population: Population | None = None
        self.idle_p50: float | None = None  # seconds, one send at a time
        self.idle_store_cores: float | None = None
        self.scenarios: dict[str, Figures] = {}
        self.ceilings: Figures = {}
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(options.workers)
        self.pool = ProcessPoolExecutor(
            max_workers=options.workers,
            mp_context=context,
            initializer=worker_started,
            initargs=(self.barrier,),
        )

    # --- plumbing -------------------------------------------------------------------------

    @property
    def people(self) -> Population:
        if self.population is None:
            raise RuntimeError("the population is created first")
        return self.population

    async def across_workers(self, entry: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        loop = asyncio.get_running_loop()
        return list(
            await asyncio.gather(*(loop.run_in_executor(self.pool, entry, j) for j in jobs))
        )

    async def start_workers(self) -> None:
        await self.across_workers(warm_up, [None] * self.options.workers)

    def quiet_threshold(self) -> float:
        idle = self.idle_p50 or 0.05
        return max(3 * idle, idle + 0.05)

    async def probe_send(self, client: ParleyClient, label: str) -> tuple[bool, float]:
        began = time.perf_counter()
        try:
            await client.send_message(self.people.probe, f"{label} probe")
        except (ParleyError, httpx.HTTPError):
            return False, time.perf_counter() - began
        return True, time.perf_counter() - began

    async def settle(self, limit: float | None = None) -> float | None:
        """Seconds until two probe sends in a row answer near the idle latency (None: not within
        `limit`, `settle_max` by default): a scenario does not pay for the backlog the previous
        one left, as far as the system lets it."""
        if self.idle_p50 is None:
            return 0.0
        began = time.monotonic()
        good = 0
        async with self.people.client(timeout=self.options.request_timeout) as client:
            while time.monotonic() - began < (limit or self.options.settle_max):
                ok, latency = await self.probe_send(client, "settle")
                good = good + 1 if ok and latency <= self.quiet_threshold() else 0
                if good >= 2:
                    return round(time.monotonic() - began, 2)
                await asyncio.sleep(0.1)
        return None

    def record(self, name: str, figures: Figures) -> None:
        self.scenarios[name] = compact(figures)
        summary = figures.get("throughput")
        latency = figures.get("latency") or figures.get("delivery_latency") or {}
        shown = f"{summary:,.1f} {figures.get('unit', '')}, " if summary is not None else ""
        print(
            f"    {name}: {shown}p50 {latency.get('p50_ms')} ms, p99 {latency.get('p99_ms')} ms, "
            f"errors {figures.get('errors') or figures.get('send_errors') or 0}",
            flush=True,
        )

    # --- the run --------------------------------------------------------------------------

    async def run(self) -> Figures:
        options = self.options
        started = datetime.now(UTC)
        print(f"==> workers: {options.workers} processes", flush=True)
        await self.start_workers()
        print("==> setting up a tenant, users and conversations", flush=True)
        setup_began = time.monotonic()
        self.population = await create_population(
            options.base,
            options.users,
            options.fanout_sockets,
            options.fanout_conversations,
            options.conversations,
        )
        setup_seconds = time.monotonic() - setup_began
        print(
            f"    tenant {self.people.tenant}, {len(self.people.users)} users,"
            f" {setup_seconds:.0f} s"
        )
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("ceilings", self.run_ceilings),
            ("idle", self.run_idle),
            ("visibility", self.run_visibility),
            ("send", self.run_sends),
            ("history", self.run_history),
            ("fanout", self.run_fanout),
            ("drain", self.run_drain),
        ]
        failures: dict[str, str] = {}
        for name, step in steps:
            if name not in options.scenarios:
                if name == "idle":
                    await self.calibrate_idle()
                continue
            print(f"==> {name}", flush=True)
            try:
                await self.people.refresh_tokens()
                await step()
            except Exception as exc:  # one broken scenario must not lose the others' figures
                failures[name] = f"{type(exc).__name__}: {exc}"
                print(f"    {name} failed: {failures[name]}", flush=True)
        return {
            "run": {
                "id": self.run_id,
                "started_at": started.isoformat(),
                "finished_at": datetime.now(UTC).isoformat(),
                "base": options.base,
                "label": options.label,
                "tenant": self.people.tenant,
                "revision": git_revision(ROOT),
                "machine": describe_machine(),
                "setup_seconds": round(setup_seconds, 1),
                "options": _plain(asdict(options)),
                "failures": failures,
            },
            "ceilings": self.ceilings,
            "scenarios": self.scenarios,
        }

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    # --- raw engine ceilings --------------------------------------------------------------

    async def run_ceilings(self) -> None:
        options = self.options
        names = ScratchNames.new(self.run_id)
        skipped = await prepare_scratch(options.engines, names)
        try:
            for engine in CEILING_ENGINES:
                if engine in skipped:
                    continue
                window = CpuWindow(self.store_pid)
                start_at = time.time() + self.options.start_delay
                share = max(1, options.ceiling_concurrency // options.workers)
                jobs = [
                    CeilingJob(
                        engine, options.engines, names, start_at, options.ceiling_seconds, share
                    )
                    for _ in range(options.workers)
                ]
                window.start()
                results = await self.across_workers(run_ceiling, jobs)
                window.stop()
                figures = ceiling_figures(engine, results, options.ceiling_seconds)
                figures["concurrency"] = share * options.workers
                figures["cpu"] = self.cpu_report(window, results)
                self.ceilings[engine] = compact(figures)
                print(f"    {engine}: {figures['throughput']:,.0f} {figures['unit']}", flush=True)
            self.ceilings["sequential"] = compact(
                await sequential_latencies(
                    options.engines,
                    names,
                    set(skipped),
                    options.sequential_ops,
                    options.engine_visibility_samples,
                )
            )
        finally:
            await drop_scratch(options.engines, names)
        self.ceilings["skipped"] = skipped

    def cpu_report(
        self, window: CpuWindow, results: Sequence[ClosedLoopResult | FanoutResult]
    ) -> dict[str, float | None]:
        for result in results:
            window.add_worker(result.cpu_seconds, result.wall_seconds)
        return window.report()

    # --- idle ------------------------------------------------------------------------------

    async def calibrate_idle(self) -> None:
        """Without the idle scenario, five probe sends still set the idle latency for settling."""
        async with self.people.client(timeout=self.options.request_timeout) as client:
            latencies = [(await self.probe_send(client, "calibrate"))[1] for _ in range(5)]
        self.idle_p50 = sorted(latencies)[len(latencies) // 2]

    async def run_idle(self) -> None:
        window = CpuWindow(self.store_pid).start()
        await asyncio.sleep(self.options.idle_cpu_seconds)
        window.stop()
        cpu = window.report()
        self.idle_store_cores = cpu["document_store_cores"]
        self.record(
            "idle_store_cpu",
            {"document_store_cores": cpu["document_store_cores"], "cpu": cpu, "errors": {}},
        )
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        window = CpuWindow(self.store_pid).start()
        async with self.people.client(timeout=self.options.request_timeout) as client:
            for number in range(self.options.idle_sends):
                began = time.perf_counter()
                try:
                    await client.send_message(self.people.probe, f"idle {number}")
                except (ParleyError, httpx.HTTPError) as exc:
                    errors[error_label(exc)] += 1
                else:
                    latencies.append(time.perf_counter() - began)
        window.stop()
        summary = latency_summary(latencies)
        if summary["p50_ms"] is not None:
            self.idle_p50 = float(summary["p50_ms"]) / 1000
        self.record(
            "idle_send",
            {
                "sends": self.options.idle_sends,
                "latency": summary,
                "errors": dict(errors),
                "cpu": window.report(),
            },
        )

    # --- search visibility -------------------------------------------------------------------

    async def run_visibility(self) -> None:
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        not_visible = 0
        settled = await self.settle()
        window = CpuWindow(self.store_pid).start()
        async with self.people.client(timeout=self.options.request_timeout) as client:
            for number in range(self.options.visibility_samples):
                word = f"vis{uuid.uuid4().hex[:12]}"
                try:
                    sent = await client.send_message(
                        self.people.visibility, f"search visibility {number} {word}"
                    )
                except (ParleyError, httpx.HTTPError) as exc:
                    errors[error_label(exc)] += 1
                    continue
                seconds = await self.searchable_after(client, word, sent.id, errors)
                if seconds is None:
                    not_visible += 1
                else:
                    latencies.append(seconds)
        window.stop()
        if not_visible:
            errors["not visible in time"] = not_visible
        self.record(
            "search_visibility",
            {
                "samples": self.options.visibility_samples,
                "latency": latency_summary(latencies),
                "not_visible": not_visible,
                "timeout_seconds": self.options.visibility_timeout,
                "errors": dict(errors),
                "settle_seconds": settled,
                "cpu": window.report(),
            },
        )

    async def searchable_after(
        self, client: ParleyClient, word: str, message_id: str, errors: Counter[str]
    ) -> float | None:
        """Seconds from now (just after the send's 201) until a search for `word` finds the
        message, searching every 50 ms; None when it is not found within the timeout."""
        answered = time.perf_counter()
        while time.perf_counter() - answered < self.options.visibility_timeout:
            try:
                page = await client.search(word, conversation_id=self.people.visibility)
            except (ParleyError, httpx.HTTPError) as exc:
                errors[f"search {error_label(exc)}"] += 1
                await asyncio.sleep(0.2)
                continue
            if any(hit.message.id == message_id for hit in page.items):
                return time.perf_counter() - answered
            await asyncio.sleep(0.05)
        return None

    async def visibility_under_load(self, start_at: float, duration: float) -> Figures:
        """Search visibility while a send scenario runs (issue 16: p95 <= 1 s under the send
        load): from the coordinator, the owner sends a message with a unique word into its
        own conversation every `VISIBILITY_PROBE_INTERVAL` s of the scenario's window and
        times its 201 to the first search that finds it. One probe at a time, so the probes
        add about two sends a second and twenty searches a second to the measured load."""
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        not_visible = probes = 0
        await asyncio.sleep(max(0.0, start_at - time.time()))
        async with self.people.client(timeout=self.options.request_timeout) as client:
            while time.time() < start_at + duration:
                began = time.monotonic()
                word = f"vis{uuid.uuid4().hex[:12]}"
                try:
                    sent = await client.send_message(
                        self.people.visibility, f"search visibility under load {word}"
                    )
                except (ParleyError, httpx.HTTPError) as exc:
                    errors[error_label(exc)] += 1
                else:
                    probes += 1
                    seconds = await self.searchable_after(client, word, sent.id, errors)
                    if seconds is None:
                        not_visible += 1
                    else:
                        latencies.append(seconds)
                await asyncio.sleep(
                    max(0.0, VISIBILITY_PROBE_INTERVAL - (time.monotonic() - began))
                )
        if not_visible:
            errors["not visible in time"] = not_visible
        return {
            "kind": "visibility",
            "probes": probes,
            "latency": latency_summary(latencies),
            "not_visible": not_visible,
            "timeout_seconds": self.options.visibility_timeout,
            "errors": dict(errors),
        }

    # --- closed-loop throughput: sends and history -------------------------------------------

    def client_plans(self, clients: int, conversation_ids: Sequence[str]) -> list[ClientPlan]:
        """Each client acts as its own slice of the working users and starts on its own
        conversation (client k on conversation k mod n), so load spreads evenly."""
        users = self.people.working
        plans: list[ClientPlan] = []
        for k in range(clients):
            own = users[k::clients] or [users[k % len(users)]]
            shift = k % len(conversation_ids)
            rotated = [*conversation_ids[shift:], *conversation_ids[:shift]]
            plans.append(ClientPlan(tuple(a.access_token for a in own), tuple(rotated)))
        return plans

    async def closed_loop(
        self,
        operation: str,
        plans: list[ClientPlan],
        *,
        duration: float,
        timeout: float,
        tag: str,
        on_start: Callable[[float, float], None] | None = None,
    ) -> tuple[list[ClosedLoopResult], CpuWindow, float]:
        workers = min(self.options.workers, len(plans))
        start_at = time.time() + self.options.start_delay
        jobs = [
            ClosedLoopJob(
                operation,
                self.options.base,
                start_at,
                duration,
                timeout,
                tuple(plans[w::workers]),
                tag,
                self.options.history_page,
            )
            for w in range(workers)
        ]
        window = CpuWindow(self.store_pid)

        async def measure_window() -> None:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            window.start()
            await asyncio.sleep(duration)
            window.stop()

        watcher = asyncio.create_task(measure_window())
        if on_start is not None:
            on_start(start_at, duration)
        results = await self.across_workers(run_closed_loop, jobs)
        await watcher
        return results, window, start_at

    async def throughput_scenario(
        self,
        name: str,
        *,
        kind: str,
        label: str,
        operation: str,
        unit: str,
        plans: list[ClientPlan],
        conversations: int,
    ) -> None:
        settled = await self.settle()
        await self.people.refresh_tokens()
        probes: list[asyncio.Task[Figures]] = []

        def probe_visibility(start_at: float, duration: float) -> None:
            probes.append(asyncio.create_task(self.visibility_under_load(start_at, duration)))

        results, window, _ = await self.closed_loop(
            operation,
            plans,
            duration=self.options.duration,
            timeout=self.options.request_timeout,
            tag=f"{name} {self.run_id}",
            on_start=probe_visibility if kind == "send" else None,
        )
        latencies = [v for r in results for v in r.latencies]
        figures: Figures = {
            "kind": kind,
            "label": label,
            "clients": len(plans),
            "conversations": conversations,
            "users": len({t for p in plans for t in p.tokens}),
            "duration_seconds": self.options.duration,
            "throughput": rate(sum(r.in_window for r in results), self.options.duration),
            "unit": unit,
            "latency": latency_summary(latencies),
            "errors": merge_counts(r.errors for r in results),
            "settle_seconds": settled,
            "cpu": self.cpu_report(window, results),
        }
        if kind == "history":
            figures["mean_page_items"] = round(
                sum(r.items for r in results) / max(1, len(latencies)), 1
            )
        self.record(name, figures)
        for probe in probes:
            self.record(f"search_visibility_{name}", await probe | {"during": name})

    async def run_sends(self) -> None:
        spread = self.people.spread
        for clients in self.options.client_counts:
            await self.throughput_scenario(
                f"send_spread_c{clients}",
                kind="send",
                label=f"send, {clients} clients over {len(spread)} conversations",
                operation="send",
                unit="msg/s",
                plans=self.client_plans(clients, spread),
                conversations=len(spread),
            )
        for clients in self.options.client_counts:
            await self.throughput_scenario(
                f"send_one_c{clients}",
                kind="send",
                label=f"send, {clients} clients into one conversation",
                operation="send",
                unit="msg/s",
                plans=self.client_plans(clients, [self.people.hot]),
                conversations=1,
            )

    async def top_up_history(self) -> dict[str, int]:
        """History pages are read from the send scenarios' conversations; if those sends
        failed, fill each to `history_min_messages` first (bounded in time) so a page is a page."""
        wanted = self.options.history_min_messages
        filled: dict[str, int] = {}
        async with self.people.client(timeout=self.options.request_timeout) as client:

            async def fill(conversation_id: str) -> None:
                conversation = await client.get_conversation(conversation_id)
                missing = max(0, wanted - conversation.last_seq)
                for number in range(missing):
                    try:
                        await client.send_message(conversation_id, f"history seed {number}")
                    except (ParleyError, httpx.HTTPError):
                        continue
                filled[conversation_id] = missing

            try:
                async with asyncio.timeout(120):
                    await asyncio.gather(*(fill(c) for c in self.people.spread))
            except TimeoutError:
                pass
        return filled

    async def run_history(self) -> None:
        filled = await self.top_up_history()
        if any(filled.values()):
            print(f"    topped up history with {sum(filled.values())} messages", flush=True)
        spread = self.people.spread
        for route, operation, label in (
            ("v1", "history_v1", "history newest page, /v1"),
            ("api", "history_api", "history newest page, /api (legacy)"),
        ):
            for clients in self.options.client_counts:
                await self.throughput_scenario(
                    f"history_{route}_c{clients}",
                    kind="history",
                    label=f"{label}, {clients} clients",
                    operation=operation,
                    unit="req/s",
                    plans=self.client_plans(clients, spread),
                    conversations=len(spread),
                )

    # --- fan-out ---------------------------------------------------------------------------

    async def run_fanout(self) -> None:
        options = self.options
        settled = await self.settle()
        workers = options.workers
        listeners: list[Listener] = []
        senders: list[Sender] = []
        per_conversation = options.fanout_rate / max(1, len(self.people.fanout))
        for conversation_id, members in self.people.fanout.items():
            for member in members:
                listeners.append(Listener(len(listeners), member.access_token, conversation_id))
            count = min(len(members), max(1, math.ceil(per_conversation / FANOUT_SENDS_PER_USER)))
            senders += [Sender(m.access_token, conversation_id) for m in members[:count]]
        tag = f"fanout{self.run_id}"
        jobs = []
        for w in range(workers):
            own_senders = tuple(senders[w::workers])
            jobs.append(
                FanoutJob(
                    base=options.base,
                    worker=w,
                    workers=workers,
                    listeners=tuple(listeners[w::workers]),
                    senders=own_senders,
                    rate=options.fanout_rate * len(own_senders) / max(1, len(senders)),
                    duration=options.duration,
                    timeout=options.request_timeout,
                    max_in_flight=max(1, options.fanout_max_in_flight // workers),
                    grace=options.fanout_grace,
                    tag=tag,
                )
            )
        window = CpuWindow(self.store_pid).start()
        results = await self.across_workers(run_fanout, jobs)
        window.stop()
        self.record("fanout", self.fanout_figures(listeners, senders, results, settled, window))

    def fanout_figures(
        self,
        listeners: list[Listener],
        senders: list[Sender],
        results: list[FanoutResult],
        settled: float | None,
        window: CpuWindow,
    ) -> Figures:
        conversation_of = {listener.index: listener.conversation_id for listener in listeners}
        connected = {index for r in results for index in r.connected}
        audience: dict[str, list[int]] = {}
        for index in connected:
            audience.setdefault(conversation_of[index], []).append(index)
        arrivals: dict[int, dict[str, float]] = {}
        wheres: dict[int, dict[str, str]] = {}
        for result in results:
            arrivals.update(result.arrivals)
            wheres.update(result.arrival_conversations)
        sends = [s for r in results for s in r.sends]
        delivered_ok = [s for s in sends if s.outcome == "201"]
        ok_keys = {s.key for s in delivered_ok}
        latencies: list[float] = []
        missed = expected = 0
        for send in delivered_ok:
            for index in audience.get(send.conversation_id, []):
                expected += 1
                arrived = arrivals.get(index, {}).get(send.key)
                if arrived is None:
                    missed += 1
                else:
                    latencies.append(arrived - send.sent_at)
        misrouted = sum(
            1
            for index, where in wheres.items()
            for conversation_id in where.values()
            if conversation_id != conversation_of.get(index)
        )
        unacknowledged = {key for keys in arrivals.values() for key in keys if key not in ok_keys}
        duration = self.options.duration
        return {
            "sockets": len(listeners),
            "connected": len(connected),
            "connect_failures": merge_counts(r.connect_failures for r in results),
            "conversations": len(self.people.fanout),
            "senders": len(senders),
            "send_rate_target": self.options.fanout_rate,
            "send_rate": rate(len(delivered_ok), duration),
            "unit": "msg/s",
            "send_latency": latency_summary(s.latency for s in delivered_ok),
            "send_errors": dict(Counter(s.outcome for s in sends if s.outcome != "201")),
            "skipped_at_in_flight_cap": sum(r.skipped_at_cap for r in results),
            "expected_deliveries": expected,
            "deliveries": len(latencies),
            "deliveries_per_second": rate(len(latencies), duration),
            "delivery_latency": latency_summary(latencies),
            "missed": missed,
            "duplicated": sum(r.duplicated for r in results),
            "redelivered_frames": sum(r.redelivered_frames for r in results),
            "misrouted": misrouted,
            "delivered_without_201": len(unacknowledged),
            "settle_seconds": settled,
            "cpu": self.cpu_report(window, results),
            "errors": merge_counts(
                [Counter(s.outcome for s in sends if s.outcome != "201")]
                + [r.connect_failures for r in results]
            ),
        }

    # --- drain after a burst -----------------------------------------------------------------

    async def in_flight(self, http: httpx.AsyncClient) -> tuple[float | None, list[str]]:
        """The sum of every in-flight gauge the services expose (None: no such gauge)."""
        from prometheus_client.parser import text_string_to_metric_families

        urls = [f"{ops_base(self.options.base)}/metrics"]
        if self.options.metrics_url:
            urls.append(self.options.metrics_url)
        total: float | None = None
        names: list[str] = []
        for url in urls:
            try:
                response = await http.get(url, timeout=2.0)
                families = list(text_string_to_metric_families(response.text))
            except (httpx.HTTPError, ValueError):
                continue
            for family in families:
                name = family.name.lower()
                if family.type != "gauge" or ("in_flight" not in name and "inflight" not in name):
                    continue
                names.append(family.name)
                total = (total or 0.0) + sum(sample.value for sample in family.samples)
        return total, names

    async def last_seq(
        self, conversation_id: str, patience: float = 30.0
    ) -> tuple[int | None, float]:
        """The conversation's `last_seq` (None if it could not be read within `patience`
        seconds) and how long reading it took (on a saturated system the value is as of some
        moment within that time)."""
        began = time.perf_counter()
        async with self.people.client(timeout=30.0) as client:
            while time.perf_counter() - began < patience:
                try:
                    conversation = await client.get_conversation(conversation_id)
                except (ParleyError, httpx.HTTPError):
                    await asyncio.sleep(1.0)
                    continue
                return conversation.last_seq, time.perf_counter() - began
        return None, time.perf_counter() - began

    async def drain_probe(
        self, client: ParleyClient, http: httpx.AsyncClient
    ) -> tuple[bool, float, float | None, float | None, list[str]]:
        """One probe of at least `PROBE_INTERVAL`: a send (ok, latency), the document store's
        CPU over it (cores) and the in-flight gauges (sum, names)."""
        began = time.monotonic()
        cpu = CpuWindow(self.store_pid).start()
        ok, latency = await self.probe_send(client, "drain")
        rest = PROBE_INTERVAL - (time.monotonic() - began)
        if rest > 0:
            await asyncio.sleep(rest)
        cpu.stop()
        gauge, names = await self.in_flight(http)
        return ok, latency, cpu.store_cores, gauge, names

    async def run_drain(self) -> None:
        """A burst of sends whose clients give up after `burst_timeout`, then probes every
        `PROBE_INTERVAL` until the system is idle again: the probe send back at the idle
        latency and every in-flight gauge at 0 (`drain_seconds`); the document store's CPU back
        to its level under the same probes before the burst is reported beside it
        (`store_cpu_drain_seconds`; on a shared machine other work moves it)."""
        options = self.options
        # The burst should meet an idle system, so wait longer than between other scenarios.
        settled = await self.settle(max(options.settle_max, options.drain_max))
        people = self.people
        async with (
            people.client(timeout=options.request_timeout) as client,
            httpx.AsyncClient() as http,
        ):
            baseline = [await self.drain_probe(client, http) for _ in range(8)]
            before_p50 = sorted(b[1] for b in baseline)[len(baseline) // 2]
            stores = sorted(b[2] for b in baseline if b[2] is not None)
            store_baseline = stores[len(stores) // 2] if stores else None
            # "Idle again" means back to the idle scenario's latency when it ran.
            reference = self.idle_p50 if self.idle_p50 is not None else before_p50
            threshold = max(2 * reference, reference + 0.05)
            store_threshold = None if store_baseline is None else store_baseline + 0.10
            seq_before, _ = await self.last_seq(people.burst)
            plans = self.client_plans(options.burst_clients, [people.burst])
            results, window, start_at = await self.closed_loop(
                "burst",
                plans,
                duration=options.burst_seconds,
                timeout=options.burst_timeout,
                tag=f"burst {self.run_id}",
            )
            burst_end = start_at + options.burst_seconds
            # Every burst client has answered or given up by now. Read while the probes run:
            # on a saturated system the read itself can take long.
            at_give_up = asyncio.create_task(self.last_seq(people.burst))
            accepted = sum(len(r.latencies) for r in results)

            since: dict[str, float | None] = {"probe": None, "in_flight": None, "store_cpu": None}
            streak: Counter[str] = Counter()
            probes: list[tuple[float, float, bool, float | None]] = []
            gauge_names: list[str] = []
            drained_at: float | None = None
            while (now := time.time()) - burst_end < options.drain_max:
                ok, latency, store, gauge, gauge_names = await self.drain_probe(client, http)
                probes.append(
                    (
                        round(now - burst_end, 3),
                        round(latency * 1000, 1),
                        ok,
                        None if store is None else round(store, 3),
                    )
                )
                checks = {"probe": ok and latency <= threshold}
                if gauge is not None:
                    checks["in_flight"] = gauge <= 0
                if store is not None and store_threshold is not None:
                    checks["store_cpu"] = store <= store_threshold
                for check, passed in checks.items():
                    if not passed:
                        streak[check], since[check] = 0, None
                        continue
                    streak[check] += 1
                    if since[check] is None:
                        since[check] = now - burst_end
                primary = [c for c in checks if c != "store_cpu"]
                if all(streak[c] >= 2 for c in primary):
                    drained_at = drained_at or time.time()
                    store_done = "store_cpu" not in checks or streak["store_cpu"] >= 2
                    if store_done or time.time() - drained_at > STORE_CPU_PATIENCE:
                        break
                else:
                    drained_at = None
            drained = drained_at is not None
            primary_since = [v for c in ("probe", "in_flight") if (v := since[c]) is not None]
            drain_seconds = max(primary_since) if drained else time.time() - burst_end
            store_drained = streak["store_cpu"] >= 2
            seq_at_give_up, give_up_read = await at_give_up
            seq_after, _ = await self.last_seq(people.burst, patience=options.drain_max)

        def difference(after: int | None, before: int | None) -> int | None:
            return None if after is None or before is None else after - before

        def rounded(value: float | None, digits: int = 2) -> float | None:
            return None if value is None else round(value, digits)

        committed = difference(seq_after, seq_before)
        self.record(
            "drain",
            {
                "burst": {
                    "clients": options.burst_clients,
                    "seconds": options.burst_seconds,
                    "client_timeout_seconds": options.burst_timeout,
                    "accepted": accepted,
                    "gave_up": sum(r.gave_up for r in results),
                    "errors": merge_counts(r.errors for r in results),
                    "latency": latency_summary(v for r in results for v in r.latencies),
                    "cpu": self.cpu_report(window, results),
                },
                "idle_before_burst": settled is not None,
                "probe_p50_before_burst_ms": round(before_p50 * 1000, 1),
                "idle_reference_p50_ms": round(reference * 1000, 1),
                "probe_threshold_ms": round(threshold * 1000, 1),
                "drained": drained,
                "drain_seconds": round(drain_seconds, 2),
                "drain_by_check_seconds": {k: rounded(v) for k, v in since.items()},
                "in_flight_gauges": gauge_names,
                "store_cpu_baseline_cores": rounded(store_baseline, 3),
                "store_cpu_threshold_cores": rounded(store_threshold, 3),
                "store_cpu_drain_seconds": rounded(since["store_cpu"] if store_drained else None),
                "committed_by_burst": committed,
                "processed_after_give_up": difference(seq_after, seq_at_give_up),
                "seq_at_give_up_read_ms": round(give_up_read * 1000, 1),
                "abandoned_but_committed": None if committed is None else committed - accepted,
                "probes": probes[:600],  # (s after the burst, latency ms, ok, store cores)
                "settle_seconds": settled,
            },
        )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, int | float | bool | str | list | tuple) or value is None:
        return value
    return str(value)


async def measure(options: BenchOptions, suite: str = "already running") -> tuple[Figures, Path]:
    """One run: every chosen scenario, the table printed, the JSON written; returns both."""
    run_id = uuid.uuid4().hex[:8]
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    bench = Bench(options, run_id)
    try:
        results = await bench.run()
    finally:
        bench.close()
    results["run"]["suite"] = suite
    rows = build_rows(results)
    results["table"] = rows
    print()
    print(render_table(rows, results["ceilings"]), flush=True)
    path = write_json(results, options.out_dir, stamp)
    print(f"\n==> results written to {path}", flush=True)
    return results, path
