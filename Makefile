# vpnaas-operator. Every target runs with Node >= 22.19 (Node 24 is installed into a cache when the machine's
# node is older; see scripts/ensure-node.sh).
SHELL := /bin/bash
NODE_BIN := $(shell scripts/ensure-node.sh)
export PATH := $(NODE_BIN):$(PATH)

.PHONY: all deps build typecheck test test-unit demo controlplane-up controlplane-down cloud-up cloud-down clean

all: build

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.stamp

build: deps
	npx tsc -p tsconfig.build.json

typecheck: deps
	npx tsc -p tsconfig.json --noEmit

## make test: typecheck, then every suite (unit, admission, controller, end-to-end, contract) against real
## processes. The first run on a machine builds kube-apiserver and etcd (a few minutes) and caches them.
test: deps typecheck
	bash test/controlplane/build.sh >/dev/null
	npx vitest run

test-unit: deps
	npx vitest run test/unit

## make demo: local control plane + cloud simulator + operator, with the examples applied.
demo: deps
	node scripts/demo.ts

controlplane-up: deps
	@node scripts/controlplane.ts up

controlplane-down: deps
	@node scripts/controlplane.ts down

clean:
	rm -rf dist .state
