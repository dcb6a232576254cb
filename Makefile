# ciam-operator: the front door. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
BIN := target/debug/ciam-operator
CLUSTER := scripts/cluster.sh

.PHONY: help build lint fmt crds cluster-up cluster-down cluster-status tools test test-runtime check-release bench bench-compare demo demo-down

help: ## List the targets with one-line descriptions
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the ciam-operator binary (debug)
	$(CARGO) build --locked

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt: ## Format the Rust code
	$(CARGO) fmt --all

crds: build ## Regenerate crds/ (and the chart's copy) from the Rust types; then deploy/
	$(BIN) crds --out-dir crds
	$(BIN) crds --out-dir charts/ciam-operator/crds
	scripts/render-deploy.sh

tools: ## Build the pinned Kubernetes binaries, Helm and the kstatus checker (cached under ~/.cache/ciam-operator)
	scripts/build-k8s.sh
	scripts/build-helm.sh
	scripts/build-kstatus.sh

cluster-up: ## Start the local control plane (etcd, kube-apiserver, kube-controller-manager)
	$(CLUSTER) up

cluster-down: ## Stop the local control plane and remove its state
	$(CLUSTER) down

cluster-status: ## Show whether the local control plane is running
	$(CLUSTER) status

test: lint tools ## Every test: lint, unit tests, the real control plane, the runtime end to end
	scripts/install-deps.sh
	$(CLUSTER) up
	$(CARGO) test --locked -- --test-threads=4
	scripts/test-runtime.sh
	scripts/check-release-binary.sh

check-release: ## Build the release binary and run it as the container image would (non-root, empty dir, read-only root)
	scripts/check-release-binary.sh

test-runtime: ## Identity runtime end to end (openid-client + Chromium) on SQLite and PostgreSQL
	scripts/test-runtime.sh

bench: ## Benchmarks: runtime token throughput/latency/RSS/Argon2id; operator at 1,000 apps
	bench/run.sh
	scripts/bench-operator.sh

bench-compare: ## This runtime vs Keycloak 26.7.3 vs Ory Hydra v2.3.0, interleaved (~15 min; BENCH_QUICK=1 ~3 min) → docs/performance.md/.png
	bench/compare/run.sh

demo: build ## Start the control plane, the runtime and the operator; apply deploy/examples; print the sign-in URL
	scripts/demo.sh

demo-down: ## Stop everything the demo started
	scripts/demo.sh down
