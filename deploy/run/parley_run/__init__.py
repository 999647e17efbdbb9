"""`make run`, `make stop`, `make status`: one supervisor owns the four services of a suite.

Modules, outside in: `cli` (the three commands) → `run`, `stop`, `status` (one command each) →
`preflight` (what already holds the ports), `engines` (the engines' own lifecycle),
`supervisor` (start, watch, restart with `backoff`, stop) → `kernel` (what Linux guarantees:
parent-death signal, process groups, who listens on a port), `probes` (health, readiness,
version over HTTP), `state` (the lock and pid file under the state folder), `console` (output).
"""
