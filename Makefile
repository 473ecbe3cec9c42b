# The Makefile only orchestrates: the logic lives in the packages' scripts.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Node.js 24 from the npm registry, cached by version (see scripts/node24.sh).
NODE_BIN := $(shell scripts/node24.sh)
ifeq ($(NODE_BIN),)
$(error could not provide Node.js 24: run scripts/node24.sh to see why)
endif
export PATH := $(NODE_BIN):$(PATH)
# npm under this Node does not read the machine's global npmrc: trust the host's CA bundle explicitly
# (registries may be reached through a proxy whose CA only the host trusts).
ifneq ($(wildcard /etc/ssl/certs/ca-certificates.crt),)
export NODE_EXTRA_CA_CERTS ?= /etc/ssl/certs/ca-certificates.crt
endif

.PHONY: help setup build lint format test e2e crds bench demo infra-up infra-down
.PHONY: kube-build kube-up kube-down helm kind cluster-up cluster-down

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: node_modules/.package-lock.json ## install Node.js 24 and the project's packages (again only when the lockfile changed)

node_modules/.package-lock.json: package-lock.json package.json runtime-image/package.json operator/package.json e2e/package.json
	npm ci
	touch $@

build: setup ## compile every package
	npm run build

lint: setup ## type-check, lint and check formatting
	npm run lint

format: ## format and auto-fix
	npm run format

test: setup infra-up cluster-up ## run every test: unit, and integration against real components it starts itself (Kafka, Kubernetes, pods)
	npm test

e2e: setup infra-up ## every lossless e2e scenario on real pods (CLUSTER=kind: on kind); prints the table, keeps it in docs/e2e-results.md
	WEIR_E2E=full WEIR_TEST_COVERAGE=0 npm test -- e2e/src/suite/lifecycle.test.ts
	cp e2e/results/full.md docs/e2e-results.md

crds: ## generate crds/ from the StreamApplication schema
	npm run crds

bench: ## run the benchmarks and print their numbers
	npm run bench --workspaces --if-present

demo: setup ## run Weir on a cluster with real pods: operator, example app, an upgrade and a rescale, live (CLUSTER=kind for kind)
	node --conditions=source e2e/src/demo/main.ts

kube-build: ## build etcd, kube-apiserver, kube-controller-manager, kubectl (Go module proxy, cached)
	e2e/infra/kubernetes/build.sh kube etcd

kube-up: ## start (or reuse) the loopback Kubernetes control plane; prints the admin kubeconfig
	e2e/infra/kubernetes/up.sh

kube-down: ## stop the node if it runs, then the control plane (KUBE_PURGE=1 also deletes its etcd data)
	e2e/infra/kubernetes/node-down.sh
	e2e/infra/kubernetes/down.sh $(if $(filter 1,$(KUBE_PURGE)),--purge)

cluster-up: ## start (or reuse) a single-node cluster with real pods (containerd, kubelet, DNS, storage); prints the kubeconfig
	e2e/infra/up.sh >&2
	e2e/infra/kubernetes/node-up.sh >&2

cluster-down: ## stop the single-node cluster and undo its host changes (CLUSTER_PURGE=1 also deletes images and etcd data)
	status=0; e2e/infra/kubernetes/node-down.sh $(if $(filter 1,$(CLUSTER_PURGE)),--purge) || status=1; \
	  e2e/infra/kubernetes/down.sh $(if $(filter 1,$(CLUSTER_PURGE)),--purge) || status=1; exit $$status

helm: ## build helm (pinned, cached)
	e2e/infra/kubernetes/build.sh helm

kind: ## build kind (pinned, cached)
	e2e/infra/kubernetes/build.sh kind

# Real components for the tests (scripts in e2e/infra/; each step skipped when already done).
.PHONY: docker docker-down base-images kafka kafka-down

infra-up: ## start every real component the tests use: docker, base images, kafka, kube; build helm, kind (idempotent)
	e2e/infra/up.sh
	$(MAKE) --no-print-directory kube-up helm kind

infra-down: ## stop them all and the cluster's node, even if one fails (Kafka data wiped; downloads and images stay cached)
	status=0; $(MAKE) --no-print-directory kube-down || status=1; e2e/infra/down.sh || status=1; exit $$status

docker: ## start the Docker engine (installs Debian's docker.io if missing)
	e2e/infra/docker.sh up

docker-down: ## stop dockerd if `make docker` started it
	e2e/infra/docker.sh down

base-images: docker ## build node:24-bookworm-slim and debian:bookworm-slim locally when missing
	e2e/infra/base-images.sh up

kafka: ## start (or reuse) the single-node Kafka broker on 127.0.0.1:19092
	e2e/infra/kafka.sh up

kafka-down: ## stop the Kafka broker and wipe its data
	e2e/infra/kafka.sh down
