"""`make bench`: Parley's throughput and latency through its public API, next to the targets of
issue 14 and to the raw engines' ceilings measured in the same run.

    make bench                                   # the suite at :8000 (started if none is ready)
    make bench BENCH_ARGS="--base http://127.0.0.1:9000"   # another implementation, same API
    make bench BENCH_ARGS="--only send,history --duration 5 --clients 16"

The load generator is `parley_client` (the typed async client) in `--workers` processes (2 by
default: one Python process cannot drive 1,000+ requests a second through httpx on its own).
It shares the machine's cores with what it measures, so every figure carries the CPU the bench
itself used (`cpu loadgen/all`, in cores): subtract it from the machine's busy cores to see
what the system under test had. Results: a table on stdout, JSON in `.bench/results-*.json`.
See docs/performance.md for the method and the figures.
"""
