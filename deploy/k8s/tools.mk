# kustomize and kubeconform for tests/deploy, built once from the Go module proxy and cached
# under ~/.cache/parley/tools (deploy/tools.py). Included by the root Makefile.
.PHONY: k8s-tools

k8s-tools: install ## Build (once) and cache kustomize and kubeconform for tests/deploy
	$(VENV)/bin/python deploy/tools.py kustomize kubeconform </dev/null
