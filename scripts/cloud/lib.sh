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
  tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF -- "VPNAAS_CLOUD_STATE=$S" \
    || tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- " $S/" || return 0
  echo "$pid"
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
