"""`make run`, `make stop`, `make status`: one supervisor owns the four services of a suite.

Modules, outside in: `cli` (the three commands) → `run`, `stop`, `status` (one command each) →
`preflight` (what already holds the ports), `engines` (the engines' own lifecycle),
`supervisor` (start, watch, restart with `backoff`, stop) → `kernel` (what Linux guarantees:
parent-death signal, process groups, who listens on a port), `probes` (health, readiness,
version over HTTP), `state` (the lock and pid file under the state folder), `console` (output).

Why not honcho or supervisord (which runs the engines, see deploy/local): neither arms its
children with a parent-death signal, so a SIGKILL of the manager leaves the services running;
honcho stops everything when one process exits (no restart); supervisord treats SIGHUP as
"reload", restarts a process that ran past `startsecs` without backoff, knows nothing of
`/readyz`, and would need a second process in front of it for readiness, the banner and the
exit status. What the guarantee needs is small: a fork with `prctl(PR_SET_PDEATHSIG)`, one
process group, and an asyncio loop that waits on its children.
"""
