# The engines as local processes (see deploy/local/README.md). Included by the root Makefile.
STACK := $(UV) run --frozen python deploy/local/stack.py

.PHONY: stack-up stack-down stack-status

stack-up: install ## Fetch (once) and start Kafka, OpenSearch, FerretDB and Redis on 127.0.0.1
	$(STACK) up

stack-down: install ## Stop every engine the stack started
	$(STACK) down

stack-status: install ## Show each engine's health and version
	$(STACK) status
