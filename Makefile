# Parley: `make run` starts everything, `make test` proves it. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
STAMP := $(VENV)/.installed
SOURCES := libs/contracts/src libs/kit/src libs/client/src services/auth/src services/messaging/src services/search/src services/gateway/src
PYTEST_ARGS ?=

export UV_LINK_MODE ?= copy

.PHONY: help install lint format test test-unit run demo clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): uv.lock pyproject.toml $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --all-packages --frozen
	@touch $@

install: $(STAMP) ## Create .venv with every package and dev tool (installs uv if missing)

lint: install ## ruff check, ruff format --check, mypy --strict
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy $(SOURCES)

format: install ## Apply ruff fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

test-unit: install ## Unit tests only (no engines)
	$(UV) run --frozen pytest -m "not integration and not e2e" $(PYTEST_ARGS)

test: lint stack-up k8s-tools ## Lint, bring up the engines, run every test (unit, integration, e2e)
	$(UV) run --frozen pytest $(PYTEST_ARGS)

.PHONY: test-faults
test-faults: install ## Stop and restart each engine and service under load, on a stack of its own; recovery table
	$(UV) run --frozen pytest -m faults tests/faults $(PYTEST_ARGS)

.PHONY: stop status
# The supervisor runs straight from the venv: no process between make and it, so make's SIGTERM
# (and a terminal's Ctrl-C or hangup) reaches the one owner of the services.
run: install ## Start the engines and the four services; Ctrl-C here or `make stop` anywhere stops them
	$(VENV)/bin/python deploy/run/suite.py run

stop: install ## Stop the suite a `make run` started (from any terminal); engines keep running
	$(VENV)/bin/python deploy/run/suite.py stop

status: install ## Show each service and engine with its health and version
	$(VENV)/bin/python deploy/run/suite.py status

.PHONY: keys
# Rotation: `make keys KEYS=stage`, then `promote`, then `retire`; each refuses (exit 1) while too
# early and says until when. Configured like auth (PARLEY_AUTH_* variables); docs/operations.md.
keys: install ## Signing-key rotation step KEYS=status|stage|promote|retire (FORCE=1: do not wait)
	$(UV) run --frozen python -m parley_auth.rotation $${KEYS:-status} $${FORCE:+--force}

.PHONY: bench
bench: install ## Measure throughput and latency against the suite at :8000 (started if none is ready); BENCH_ARGS="--help"
	PYTHONPATH=tests $(UV) run --frozen python -m perf $(BENCH_ARGS)

.PHONY: fuzz
fuzz: install stack-up ## Fuzz every public operation at length (FUZZ_EXAMPLES per operation, default 1000; FUZZ_SEED, else random and printed)
	PARLEY_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-1000} PARLEY_FUZZ_SEED=$${FUZZ_SEED:-$$RANDOM$$RANDOM} \
		$(UV) run --frozen pytest tests/fuzz -s -o timeout=0 $(PYTEST_ARGS)

demo: install ## Seed a demo tenant into the running suite (`make run` first) and print logins
	$(UV) run --frozen python -m parley_client.demo --gateway "$${PARLEY_GATEWAY_URL:-http://127.0.0.1:8000}"

clean: ## Remove the venv and caches (not the engine cache; see stack-clean)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

include deploy/local/stack.mk
include deploy/k8s/tools.mk
