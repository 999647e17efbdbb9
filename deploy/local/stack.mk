# The engines as local processes (see deploy/local/README.md). Included by the root Makefile.
STACK := $(UV) run --frozen python deploy/local/stack.py
STACK_DIR := $(or $(PARLEY_STACK_DIR),.stack)

.PHONY: stack-up stack-down stack-status stack-clean

stack-up: install ## Fetch (once) and start Kafka, OpenSearch, FerretDB and Redis on 127.0.0.1
	$(STACK) up

stack-down: install ## Stop every engine the stack started (no process left behind)
	$(STACK) down

stack-status: install ## Show each engine's health and version
	$(STACK) status

stack-clean: stack-down ## Stop the engines and delete the engine cache (downloads and data)
	rm -rf $(STACK_DIR)
