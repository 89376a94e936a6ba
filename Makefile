# vpnaas-operator. Every target runs with Node >= 22.19 (Node 24 is installed into a cache when the machine's
# node is older; see scripts/ensure-node.sh).
SHELL := /bin/bash
NODE_BIN := $(shell scripts/ensure-node.sh)
export PATH := $(NODE_BIN):$(PATH)

.PHONY: all deps build typecheck test test-unit test-tunnel chaos demo controlplane-up controlplane-down cloud-up cloud-down bench bench-site bench-memory clean \
	cluster-up cluster-down image install uninstall deploy undeploy run

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
	bash test/controlplane/build.sh --node >/dev/null
	bash test/cluster/tools/build.sh >/dev/null
	@mkdir -p .state && rm -f .state/vitest.json .state/vitest-tunnel.json
	@status=0; npx vitest run --exclude $(TUNNEL_SUITE) --reporter=default --reporter=json --outputFile.json=.state/vitest.json || status=$$?; \
	  npx vitest run $(TUNNEL_SUITE) --reporter=default --reporter=json --outputFile.json=.state/vitest-tunnel.json || status=$$?; \
	  node scripts/test-summary.ts .state/vitest.json .state/vitest-tunnel.json || true; exit $$status

## The real tunnel (a second local OpenStack with the VPN agent and strongSwan, about 5 minutes) runs after the other
## suites, alone: beside them its agents and theirs competed for the two cores. make test-tunnel runs only it.
TUNNEL_SUITE := test/e2e/tunnel.test.ts

test-tunnel: deps
	bash test/controlplane/build.sh >/dev/null
	npx vitest run $(TUNNEL_SUITE)

test-unit: deps
	npx vitest run test/unit

## make chaos: the long chaos run (test/e2e/chaos.test.ts): 300 objects with create/delete churn, >=20 SIGKILLs of the
## operator, cloud 5xx/429/lost responses/hangs/latency and an API server restart, simulator in upstream mode; prints
## its figures. CHAOS_OBJECTS, CHAOS_KILLS, CHAOS_MODES (upstream,seed), CHAOS_SEED (replay) override.
chaos: deps
	bash test/controlplane/build.sh >/dev/null
	CHAOS_OBJECTS=$${CHAOS_OBJECTS:-300} CHAOS_KILLS=$${CHAOS_KILLS:-20} CHAOS_MODES=$${CHAOS_MODES:-upstream} \
	  npx vitest run test/e2e/chaos.test.ts

## make demo: local control plane + cloud simulator + operator, with the examples applied.
demo: deps
	node scripts/demo.ts

controlplane-up: deps
	@node scripts/controlplane.ts up

controlplane-down: deps
	@node scripts/controlplane.ts down

## make cluster-up: a one-node cluster (kubelet, containerd, the control plane) in a network namespace, as root;
## state in .state/cluster/; the last line is its kubeconfig. make cluster-down removes all of it.
cluster-up:
	@bash scripts/cluster/up.sh

cluster-down:
	@bash scripts/cluster/down.sh

## make image: the Dockerfile built with buildah (installed as root when missing; or a docker whose daemon answers) into localhost/vpnaas-operator:dev (IMAGE=...), imported
## into the cluster of make cluster-up when it runs.
image:
	@bash scripts/cluster/image.sh

## Against the cluster of the current kubeconfig (KUBECTL=kubectl by default; any kubectl >= 1.21 has -k):
## make install / uninstall: the CRDs of crds/. make deploy / undeploy: deploy/ (IMG=registry/name:tag sets the
## image through a kustomize overlay in .state/deploy/). make run: the operator on this machine, current kubeconfig.
KUBECTL ?= kubectl
IMG ?=

install:
	$(KUBECTL) apply -k crds/

uninstall:
	$(KUBECTL) delete -k crds/ --ignore-not-found

deploy:
	@mkdir -p .state/deploy
	@printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../../deploy]\n' >.state/deploy/kustomization.yaml
	@if [ -n "$(IMG)" ]; then printf 'images:\n  - name: ghcr.io/vpnaas/vpnaas-operator\n    newName: %s\n    newTag: "%s"\n' \
	  "$$(echo '$(IMG)' | sed 's/:[^:/]*$$//')" "$$(echo '$(IMG)' | sed -n 's/.*:\([^:/]*\)$$/\1/p')" >>.state/deploy/kustomization.yaml; fi
	$(KUBECTL) apply -k .state/deploy/

undeploy:
	$(KUBECTL) delete -k deploy/ --ignore-not-found

run: deps
	node src/main.ts run

## make cloud-up: a real OpenStack (Keystone + Neutron with VPNaaS) from Debian's packages on 127.0.0.1, state in
## .state/openstack/ (installs the packages when missing: needs root). make cloud-down stops it.
## DATAPLANE=1: also the linuxbridge agent, the L3 agent with the VPN agent and strongSwan, and two "VM" namespaces
## (scripts/cloud/dataplane.sh; root).
cloud-up:
	VPNAAS_DATAPLANE=$${VPNAAS_DATAPLANE:-$(DATAPLANE)} bash scripts/cloud/up.sh

cloud-down:
	bash scripts/cloud/down.sh

## make bench: N objects against the simulator (figures printed, compared with a minimal script), then a site-to-site
## deployment of SITE_CONNECTIONS IPsec site connections over SITE_SERVICES VpnServices (bench/site.ts).
bench: deps
	node bench/run.ts --objects $${OBJECTS:-1000} --workers $${WORKERS:-8}
	node bench/site.ts --connections $${SITE_CONNECTIONS:-1000} --services $${SITE_SERVICES:-10} --workers $${WORKERS:-8}

bench-site: deps
	node bench/site.ts --connections $${SITE_CONNECTIONS:-1000} --services $${SITE_SERVICES:-10} --workers $${WORKERS:-8}

bench-memory: deps
	node bench/memory.ts

clean:
	rm -rf dist .state
