"""What a bench run does: every knob, with the defaults of `make bench` and the `--smoke` preset."""

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_BASE = "http://127.0.0.1:8000"
SCENARIOS = ("ceilings", "idle", "visibility", "send", "history", "fanout", "drain")


@dataclass(frozen=True)
class EngineUrls:
    """The raw engines measured for the ceilings (the local stack's defaults)."""

    mongo_url: str = "mongodb://127.0.0.1:27017"
    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_bootstrap: str = "127.0.0.1:9092"
    search_url: str = "http://127.0.0.1:9200"


@dataclass(frozen=True)
class BenchOptions:
    base: str = DEFAULT_BASE
    scenarios: tuple[str, ...] = SCENARIOS
    duration: float = 10.0  # seconds of each throughput scenario
    client_counts: tuple[int, ...] = (16, 64)
    conversations: int = 8  # "send over 8 conversations"
    workers: int = 2  # load-generator processes
    users: int = 200  # signed up once per run; also the fan-out's socket users
    request_timeout: float = 15.0  # above the gateway's 10 s upstream timeout: see its 504s
    history_page: int = 50
    history_min_messages: int = 50  # topped up before the history scenarios if sends failed
    idle_sends: int = 50
    visibility_samples: int = 20
    visibility_timeout: float = 15.0
    fanout_sockets: int = 200
    # 10 rooms of 20 sockets: 500 msg/s is 10,000 deliveries/s. A Python Socket.IO client costs
    # ~35 us of CPU per event, so the bench receives them with ~0.35 core; one room of 200 would
    # be 100,000/s, which measures the load generator, not the gateway (`--fanout-conversations`).
    fanout_conversations: int = 10
    fanout_rate: float = 500.0  # messages per second, open loop
    fanout_max_in_flight: int = 256
    fanout_grace: float = 15.0  # longest wait for deliveries after the last send
    burst_clients: int = 64
    burst_seconds: float = 3.0
    burst_timeout: float = 0.5  # the burst's clients give up after this
    drain_max: float = 120.0
    settle_max: float = 30.0  # longest wait between scenarios for the system to be idle again
    ceiling_seconds: float = 5.0
    ceiling_concurrency: int = 16
    sequential_ops: int = 100  # one-at-a-time engine latencies
    engine_visibility_samples: int = 5
    idle_cpu_seconds: float = 5.0
    start_delay: float = 1.0  # workers get the shared start moment this far ahead
    engines: EngineUrls = field(default_factory=EngineUrls)
    metrics_url: str | None = None  # messaging /metrics (an in-flight gauge is read if present)
    out_dir: Path = Path(".bench")
    start_suite: bool = True  # start deploy/run/suite.py when nothing answers at `base`
    label: str = ""  # what was measured, in words (kept in the JSON), e.g. "before, 2d7765c"
    smoke: bool = False

    @property
    def is_local_default(self) -> bool:
        return self.base.rstrip("/") == DEFAULT_BASE

    def with_smoke(self) -> "BenchOptions":
        """Every scenario for about a second with two clients: proves the tool, not the system."""
        return dataclasses.replace(
            self,
            smoke=True,
            duration=1.0,
            client_counts=(2,),
            users=8,
            history_min_messages=5,
            idle_sends=3,
            visibility_samples=2,
            fanout_sockets=4,
            fanout_conversations=2,
            fanout_rate=10.0,
            fanout_max_in_flight=16,
            burst_clients=4,
            burst_seconds=1.0,
            burst_timeout=0.5,
            drain_max=60.0,
            settle_max=10.0,
            ceiling_seconds=1.0,
            ceiling_concurrency=2,
            sequential_ops=20,
            engine_visibility_samples=2,
            idle_cpu_seconds=1.0,
            start_delay=0.5,
        )


def _counts(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _scenarios(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scenario(s) {unknown}; known: {SCENARIOS}")
    return chosen


def parse_options(argv: list[str] | None = None) -> BenchOptions:
    defaults = BenchOptions()
    parser = argparse.ArgumentParser(
        prog="make bench",
        description="Throughput and latency of Parley through its public API (tests/perf).",
    )
    parser.add_argument(
        "--base", default=defaults.base, help="gateway of the implementation under test"
    )
    parser.add_argument(
        "--only",
        type=_scenarios,
        default=defaults.scenarios,
        help=f"comma-separated subset of {','.join(SCENARIOS)}",
    )
    parser.add_argument("--duration", type=float, default=defaults.duration)
    parser.add_argument(
        "--clients", type=_counts, default=defaults.client_counts, help="e.g. 16,64"
    )
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--fanout-sockets", type=int, default=defaults.fanout_sockets)
    parser.add_argument("--fanout-conversations", type=int, default=defaults.fanout_conversations)
    parser.add_argument("--fanout-rate", type=float, default=defaults.fanout_rate)
    parser.add_argument("--burst-clients", type=int, default=defaults.burst_clients)
    parser.add_argument("--burst-seconds", type=float, default=defaults.burst_seconds)
    parser.add_argument("--burst-timeout", type=float, default=defaults.burst_timeout)
    parser.add_argument("--drain-max", type=float, default=defaults.drain_max)
    parser.add_argument("--settle-max", type=float, default=defaults.settle_max)
    parser.add_argument("--ceiling-seconds", type=float, default=defaults.ceiling_seconds)
    parser.add_argument("--idle-sends", type=int, default=defaults.idle_sends)
    parser.add_argument("--visibility-samples", type=int, default=defaults.visibility_samples)
    parser.add_argument("--mongo-url", default=defaults.engines.mongo_url)
    parser.add_argument("--redis-url", default=defaults.engines.redis_url)
    parser.add_argument("--kafka-bootstrap", default=defaults.engines.kafka_bootstrap)
    parser.add_argument("--search-url", default=defaults.engines.search_url)
    parser.add_argument(
        "--metrics-url",
        default=None,
        help="messaging /metrics read during the drain (default: its ops port :9002 with the"
        " default --base)",
    )
    parser.add_argument("--out", type=Path, default=defaults.out_dir)
    parser.add_argument(
        "--label", default="", help='what is measured, kept in the JSON (e.g. "2 replicas")'
    )
    parser.add_argument(
        "--no-start", action="store_true", help="never start a suite; fail if none answers"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="about a second per scenario, two clients"
    )
    args = parser.parse_args(argv)
    options = BenchOptions(
        base=args.base.rstrip("/"),
        scenarios=args.only,
        duration=args.duration,
        client_counts=args.clients,
        workers=max(1, args.workers),
        users=args.users,
        fanout_sockets=args.fanout_sockets,
        fanout_conversations=args.fanout_conversations,
        fanout_rate=args.fanout_rate,
        burst_clients=args.burst_clients,
        burst_seconds=args.burst_seconds,
        burst_timeout=args.burst_timeout,
        drain_max=args.drain_max,
        settle_max=args.settle_max,
        ceiling_seconds=args.ceiling_seconds,
        idle_sends=args.idle_sends,
        visibility_samples=args.visibility_samples,
        engines=EngineUrls(args.mongo_url, args.redis_url, args.kafka_bootstrap, args.search_url),
        metrics_url=args.metrics_url,
        out_dir=args.out,
        start_suite=not args.no_start,
        label=args.label,
    )
    if options.metrics_url is None and options.is_local_default:
        options = dataclasses.replace(options, metrics_url="http://127.0.0.1:9002/metrics")
    return options.with_smoke() if args.smoke else options
