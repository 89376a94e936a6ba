# Shared by up.sh and down.sh (sourced). Sets S, the state folder, and the helpers below.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
STATE_ROOT=$(realpath -m -- "${VPNAAS_STATE:-$repo/.state}")
S=$STATE_ROOT/openstack
PY=/usr/bin/python3
CLOUD="$PY $here/cloud.py"
QUIET=${QUIET:-0}

log() { [ "$QUIET" = 1 ] || echo "cloud: $*" >&2; }
die() { echo "cloud: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# pid of a service we started (run/<name>.pid), if that process is still alive and still ours; else nothing.
pid_of() {
  local f=$S/run/$1.pid pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  [ -d "/proc/$pid" ] || return 0
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 0
  # Guard against a reused pid: launch() marks the environment (neutron-server's setproctitle overwrites its
  # environment, but its command line names our config file).
  grep -qxzF -- "VPNAAS_CLOUD_STATE=$S" "/proc/$pid/environ" 2>/dev/null \
    || grep -qzF -- "$S/" "/proc/$pid/cmdline" 2>/dev/null || return 0
  echo "$pid"
}

# Processes whose environment says they belong to this state folder (launch() sets VPNAAS_CLOUD_STATE=$S), other
# than this shell and its ancestors: TERM to each one's process group, then KILL after 10 s.
state_processes() {
  local d pid anc=" $$ $PPID " p
  p=$PPID
  while [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != 1 ]; do p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null); anc+="$p "; done
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [[ $anc == *" $pid "* ]] && continue
    if grep -qxzF -- "VPNAAS_CLOUD_STATE=$S" "$d/environ" 2>/dev/null; then echo "$pid"; fi
  done
  return 0
}
sweep_state_processes() {
  local pids pid g i
  pids=$(state_processes)
  [ -n "$pids" ] || return 0
  for pid in $pids; do
    g=$(awk '{print $5}' "/proc/$pid/stat" 2>/dev/null) || continue
    echo "cloud: stopping pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)), of this state folder but not recorded" >&2
    kill -TERM -- "-$g" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for ((i = 0; i < 100; i++)); do [ -z "$(state_processes)" ] && return 0; sleep 0.1; done
  for pid in $(state_processes); do kill -KILL "$pid" 2>/dev/null || true; done
}

# Sends SIGTERM to a service's process (the leader of its own process group, started by setsid), waits up to
# GRACE seconds for the whole group to exit, then SIGKILLs what is left of the group and waits for it.
stop_one() { # name grace-seconds
  local name=$1 grace=${2:-30} pid i
  pid=$(pid_of "$name")
  if [ -z "$pid" ]; then rm -f "$S/run/$name.pid"; return 0; fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    pgrep -g "$pid" >/dev/null || break
    sleep 0.1
  done
  if pgrep -g "$pid" >/dev/null; then
    log "$name (pid $pid) still running after ${grace} s: SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do pgrep -g "$pid" >/dev/null || break; sleep 0.1; done
  fi
  rm -f "$S/run/$name.pid"
}

# The data plane (scripts/cloud/dataplane.sh, VPNAAS_DATAPLANE=1). Every name it makes outside the state folder is
# derived from the state folder, so that two checkouts (two clouds) can run one each on a machine.
DP=$S/dataplane
DP_ID=$(echo -n "$S" | sha1sum | cut -c1-8)
DP_HOST=vpnaas-dp-$DP_ID # the agents' host name (Neutron keeps routers scheduled to an agent by host name)
DP_BR_EXT=vpe$DP_ID      # the provider bridge (flat physnet1: the routers' gateways meet there)
DP_BR_UL=vpu$DP_ID       # the VXLAN underlay: a bridge with nothing plugged in that holds local_ip
DP_LOCAL_IP=198.19.$((0x${DP_ID:0:2})).$((0x${DP_ID:2:2} % 254 + 1))
DP_VNI_MIN=$(((0x${DP_ID:4:4} % 16000) * 1000 + 1)) DP_VNI_MAX=$(((0x${DP_ID:4:4} % 16000) * 1000 + 1000))
DP_VM_PREFIX=vpnaas-$DP_ID-vm # the "VM" namespaces: <prefix>-a, <prefix>-b
DP_AGENTS=(linuxbridge-agent l3-agent)
DATAPLANE_PACKAGES=(neutron-l3-agent neutron-linuxbridge-agent libcharon-extra-plugins strongswan-starter tini sudo
  iputils-ping iptables)
