#!/usr/bin/env bash
# Installs the Debian packages a one-node cluster and the image build need, when missing (as root; apt-get):
#   packages.sh cluster   containerd runc containernetworking-plugins iptables (kubelet's and kube-proxy's tools)
#   packages.sh image     buildah debootstrap (the image builder and the base-image stand-ins)
# Nothing is started: a policy-rc.d denying every service start is in place during the install (the previous one is
# restored). VPNAAS_NO_INSTALL=1: never run apt-get, only say what is missing. Log: $VPNAAS_STATE/cluster-apt.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${VPNAAS_STATE:-$root/.state}
die() { echo "packages: $*" >&2; exit 1; }

case ${1:-} in
  cluster) want=(containerd runc containernetworking-plugins iptables util-linux mount) ;;
  image) want=(buildah debootstrap) ;;
  *) die "usage: packages.sh cluster|image" ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
[ "${VPNAAS_NO_INSTALL:-0}" != 1 ] || die "missing Debian packages: ${missing[*]} (VPNAAS_NO_INSTALL=1)"
[ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}; run as root to install them"
command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get (a Debian machine is needed)"

mkdir -p "$state"
logf=$state/cluster-apt.log
echo "packages: installing ${missing[*]} (and their dependencies)" >&2
t0=$SECONDS
prc=/usr/sbin/policy-rc.d saved=""
if [ -e "$prc" ] || [ -L "$prc" ]; then saved=$(mktemp /usr/sbin/.policy-rc.d.vpnaas-cluster.XXXXXX); cp -a "$prc" "$saved"; fi
restore() { if [ -n "$saved" ]; then mv -f "$saved" "$prc"; else rm -f "$prc"; fi; }
trap restore EXIT
trap 'exit 130' INT TERM HUP
printf '#!/bin/sh\n# vpnaas-operator scripts/cluster/packages.sh: no service starts during this install\nexit 101\n' >"$prc"
chmod 755 "$prc"
apt=(apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
export DEBIAN_FRONTEND=noninteractive
rc=0
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then "${apt[@]}" update -qq >"$logf" 2>&1 || rc=$?; fi
if [ $rc = 0 ]; then
  "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}" >>"$logf" 2>&1 || {
    # Stale package lists (a version gone from the mirror): update once and try again.
    "${apt[@]}" update -qq >>"$logf" 2>&1 && "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}" >>"$logf" 2>&1
  } || rc=$?
fi
[ $rc = 0 ] || { tail -n 30 "$logf" >&2; die "apt-get install failed ($rc), log: $logf"; }
echo "packages: installed in $((SECONDS - t0)) s" >&2
