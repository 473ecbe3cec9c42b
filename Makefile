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

.PHONY: help setup build lint format test crds bench demo infra-up infra-down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: ## install Node.js 24 and the project's packages
	npm ci

build: ## compile every package
	npm run build

lint: ## type-check, lint and check formatting
	npm run lint

format: ## format and auto-fix
	npm run format

test: ## run every test (unit, and integration against real components)
	npm test

crds: ## generate crds/ from the StreamApplication schema
	npm run crds

bench: ## run the benchmarks and print their numbers
	npm run bench --workspaces --if-present

demo: ## run Weir on a local cluster
	@echo "make demo: not yet (comes with the cluster issue)" >&2; exit 2
