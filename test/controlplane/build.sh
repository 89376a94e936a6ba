#!/usr/bin/env bash
# Builds Kubernetes components from the Go modules pinned in this folder's go.mod and caches the binaries outside
# the repository, keyed by version. Prints the folder that holds them (last line of stdout).
#
#   build.sh                      kube-apiserver and etcd (what every control plane test needs)
#   build.sh COMPONENT...         those too, plus the named ones, e.g. `build.sh kube-controller-manager`
#   build.sh --node               the components of a node as well: kube-controller-manager kube-scheduler
#                                 kube-proxy kubelet kubectl, and `pause` (the pod sandbox's process: kubernetes'
#                                 own build/pause/linux/pause.c from the k8s.io/kubernetes module, gcc -static)
#
# KUBE_APISERVER_BIN / ETCD_BIN: use binaries you already have instead (nothing is built for those then).
# One build at a time per machine (a lock in the cache folder): a second caller waits and then finds the binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$here/go.mod")
ETCD_VERSION=$(awk '$1=="go.etcd.io/etcd/server/v3" {print $2}' "$here/go.mod")
cache=${VPNAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-operator}
out="$cache/controlplane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"

log() { echo "controlplane: $*" >&2; }

node=(kube-controller-manager kube-scheduler kube-proxy kubelet kubectl pause)
extra=()
for arg in "$@"; do
  case $arg in
    --node) extra+=("${node[@]}") ;;
    kube-controller-manager | kube-scheduler | kube-proxy | kubelet | kubectl | pause) extra+=("$arg") ;;
    *) log "unknown component '$arg' (known: --node ${node[*]})"; exit 2 ;;
  esac
done

mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

build() { # name package ldflags
  local name=$1 pkg=$2 ldflags=$3
  if [ -x "$out/$name" ]; then return; fi
  go version >/dev/null 2>&1 || { log "Go is needed to build $name, and 'go version' fails (or set KUBE_APISERVER_BIN / ETCD_BIN)"; exit 1; }
  log "building $name from $pkg (first run on this machine: up to several minutes)"
  local t0=$SECONDS
  (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  log "built $name in $((SECONDS - t0)) s"
}

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
kflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
[ -n "${KUBE_APISERVER_BIN:-}" ] || build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kflags"
[ -n "${ETCD_BIN:-}" ] || build etcd go.etcd.io/etcd/server/v3 "-s -w"
build_pause() {
  [ -x "$out/pause" ] && return
  gcc --version >/dev/null 2>&1 || { log "gcc is needed to build pause, and 'gcc --version' fails"; exit 1; }
  local src
  src=$(cd "$here" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c
  [ -f "$src" ] || (cd "$here" && go mod download k8s.io/kubernetes)
  gcc -Os -Wall -Werror -static -DVERSION="$K8S_VERSION" -o "$out/pause.tmp" "$src"
  strip "$out/pause.tmp"
  mv "$out/pause.tmp" "$out/pause"
  log "built pause from $src"
}
for name in "${extra[@]}"; do
  if [ "$name" = pause ]; then build_pause; else build "$name" "k8s.io/kubernetes/cmd/$name" "$kflags"; fi
done
echo "$out"
