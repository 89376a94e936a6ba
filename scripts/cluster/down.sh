#!/usr/bin/env bash
# make cluster-down: stops the cluster of scripts/cluster/up.sh and removes everything it made: its processes (by
# the PIDs it recorded, then whatever still runs in its network namespace or its pods' cgroups, by PID), the pods'
# network namespaces and CNI cache entries, the mounts under its state folder, its cgroups, the namespace itself
# (with the iptables rules of kube-proxy that live only there and the host link), kubelet's /var/log/containers
# links, and the state folder. Checks that nothing is left and says so (exit 1 if something is).
# KEEP_LOGS=1: keep the logs in $VPNAAS_STATE/cluster-logs (for a failed start-up).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
say() { echo "cluster-down: $*" >&2; }
[ "$(id -u)" = 0 ] || { say "needs root"; exit 1; }
if [ "${VPNAAS_CLUSTER_LOCKED:-0}" != 1 ]; then
  exec 9>"$S.lock"
  flock 9
fi
[ -e "$S" ] || [ -e "/run/netns/$NS" ] || { say "not running"; exit 0; }

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
stop_pid() { # pid [grace in 0.1 s]
  local p=$1 n=${2:-100}
  alive "$p" || return 0
  kill "$p" 2>/dev/null
  for _ in $(seq "$n"); do alive "$p" || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
  for _ in $(seq 50); do alive "$p" || return 0; sleep 0.1; done
}
stop_named() { # name...: by the PID files of up.sh
  for name in "$@"; do
    local f=$S/run/$name.pid
    [ -f "$f" ] || continue
    stop_pid "$(cat "$f")"
    rm -f "$f"
  done
}

# The watchdog (unless it is what runs this).
if [ -f "$S/watchdog.pid" ]; then
  w=$(cat "$S/watchdog.pid")
  [ "$w" != "$PPID" ] && [ "$w" != "$$" ] && stop_pid "$w" 5
  rm -f "$S/watchdog.pid"
fi

stop_named kubelet kube-proxy kube-scheduler kube-controller-manager

# Pods: note their network namespaces and sandbox ids from containerd, then kill every task.
C=$S/containerd
CTR=(ctr --address "$C/containerd.sock" -n k8s.io)
podns="" ids=""
if [ -S "$C/containerd.sock" ] && "${CTR[@]}" version >/dev/null 2>&1; then
  ids=$("${CTR[@]}" containers ls -q 2>/dev/null)
  for c in $ids; do
    "${CTR[@]}" containers info "$c" 2>/dev/null | grep -o '"/var/run/netns/cni-[0-9a-f-]*"\|"/run/netns/cni-[0-9a-f-]*"' | tr -d '"'
  done | sort -u >"$S/podns" 2>/dev/null || true
  podns=$(cat "$S/podns" 2>/dev/null)
  for t in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks kill -s KILL "$t" >/dev/null 2>&1; done
fi
# Whatever still runs in the pods' cgroups (containers whose shim is gone), by PID.
cgroup_pids() { cat /sys/fs/cgroup/*/"$CGROUP"/cgroup.procs /sys/fs/cgroup/*/"$CGROUP"/**/cgroup.procs 2>/dev/null; }
shopt -s globstar nullglob
for _ in 1 2 3; do
  pids=$(cgroup_pids | sort -u)
  [ -n "$pids" ] || break
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  sleep 0.3
done
if [ -S "$C/containerd.sock" ]; then
  for t in $("${CTR[@]}" tasks ls -q 2>/dev/null); do "${CTR[@]}" tasks delete -f "$t" >/dev/null 2>&1; done
  for c in $("${CTR[@]}" containers ls -q 2>/dev/null); do "${CTR[@]}" containers delete "$c" >/dev/null 2>&1; done
fi
stop_named containerd
# Shims (started by containerd, in its network namespace, outliving it) and anything else left in the namespace.
if [ -e "/run/netns/$NS" ]; then
  for p in $(ip netns pids "$NS" 2>/dev/null); do [ "$p" != $$ ] && stop_pid "$p" 20; done
fi
stop_named kube-apiserver etcd
[ -e "/run/netns/$NS" ] && for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done

# Mounts under the state folder (overlay snapshots, pod volumes, shm), deepest first.
for _ in 1 2 3; do
  awk -v s="$S/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
done
# cgroups, deepest first.
for h in /sys/fs/cgroup/*/; do
  [ -d "$h$CGROUP" ] && find "$h$CGROUP" -depth -type d -exec rmdir {} \; 2>/dev/null
done
# libcni's result cache of each sandbox (containerd 1.6 cannot move it) and the pods' network namespaces.
for i in $ids; do rm -f /var/lib/cni/results/*-"$i"-*; done
rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
for p in $podns; do
  case $p in /var/run/netns/cni-* | /run/netns/cni-*) ip netns del "$(basename "$p")" 2>/dev/null ;; esac
done
ip netns del "$NS" 2>/dev/null
ip link del "$HOST_LINK" 2>/dev/null
# kubelet links every container log from /var/log/containers (a fixed path): drop the links into our folder.
for l in /var/log/containers/*.log; do
  [ -L "$l" ] && case $(readlink "$l") in "$S"/*) rm -f "$l" ;; esac
done
rmdir /var/log/containers 2>/dev/null

# What is left?
left=()
[ -n "$(awk -v s="$S/" 'index($5, s) == 1' /proc/self/mountinfo)" ] && left+=("mounts under $S")
[ -e "/run/netns/$NS" ] && left+=("network namespace $NS")
ip link show "$HOST_LINK" >/dev/null 2>&1 && left+=("link $HOST_LINK")
for h in /sys/fs/cgroup/*/; do [ -d "$h$CGROUP" ] && left+=("cgroup $h$CGROUP"); done
for p in $podns; do [ -e "$p" ] && left+=("pod network namespace $p"); done
for d in /proc/[0-9]*; do
  tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF "$S/" && [ "${d#/proc/}" != $$ ] && [ "${d#/proc/}" != "$PPID" ] && left+=("process ${d#/proc/}")
done
if [ ${#left[@]} -gt 0 ]; then
  say "left behind: ${left[*]} (state kept in $S)"
  exit 1
fi
if [ "${KEEP_LOGS:-0}" = 1 ] && [ -d "$S/log" ]; then
  rm -rf "$cluster_state/cluster-logs"
  mv "$S/log" "$cluster_state/cluster-logs"
  say "logs kept in $cluster_state/cluster-logs"
fi
rm -rf "$S"
echo "cluster-down: stopped; nothing left"
