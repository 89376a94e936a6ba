#!/usr/bin/env bash
# Builds the cluster tests' Go tools from this module and caches them outside the repository, keyed by a hash of
# the module's files: helm (helm.sh/helm/v3), kstatus (sigs.k8s.io/cli-utils), luahealth (gopher-lua). Prints the
# folder that holds them (last line of stdout). One build at a time per machine.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
key=$(cd "$here" && cat build.sh go.mod go.sum ./*/main.go | sha256sum | cut -c1-16)
cache=${VPNAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-operator}
out=$cache/tools/$key
log() { echo "tools: $*" >&2; }
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
go version >/dev/null 2>&1 || { log "Go is needed to build the test tools, and 'go version' fails"; exit 1; }
helm_version=$(cd "$here" && go list -m -f '{{.Version}}' helm.sh/helm/v3)
build() { # name package [ldflags]
  [ -x "$out/$1" ] && return
  local t0=$SECONDS
  log "building $1 from $2"
  (cd "$here" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w ${3:-}" -o "$out/$1.tmp" "$2")
  mv "$out/$1.tmp" "$out/$1"
  log "built $1 in $((SECONDS - t0)) s"
}
build kstatus ./kstatus
build luahealth ./luahealth
# As helm's Makefile does: the Kubernetes version it assumes without a cluster (helm template, lint) from client-go.
kv=$(cd "$here" && go list -m -f '{{.Version}}' k8s.io/client-go)
kmin=$(echo "$kv" | cut -d. -f2)
kflags="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kmin"
kflags="$kflags -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kmin"
build helm helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$helm_version $kflags"
echo "$out"
