# kustomize and kubeconform for tests/deploy, built once from the Go module proxy and cached
# under ~/.cache/parley/tools (deploy/k8s/tools.py). Included by the root Makefile.
.PHONY: k8s-tools

k8s-tools: install ## Build (once) and cache kustomize and kubeconform for tests/deploy
	$(VENV)/bin/python deploy/k8s/tools.py </dev/null
