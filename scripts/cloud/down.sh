#!/usr/bin/env bash
# Stops the local OpenStack that scripts/cloud/up.sh started: exactly the processes whose pids it recorded in
# <state>/openstack/run/ (and their process groups), waiting for each to exit; with a data plane, first
# everything scripts/cloud/dataplane.sh made (agents, strongSwan, namespaces, bridges, agent records). The state folder stays (the next
# up.sh reuses its databases and seed); --purge removes it.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
PURGE=0
for a in "$@"; do
  case $a in
    --purge) PURGE=1 ;;
    --quiet) QUIET=1 ;;
    *) echo "usage: $0 [--purge] [--quiet]" >&2; exit 2 ;;
  esac
done
[ -d "$S" ] || { log "nothing to stop ($S does not exist)"; exit 0; }
exec 9>"$S/.lock"
flock 9
t=$(now)
# The data plane first, while neutron-server still answers (its agent records are deleted through the API).
if [ -d "$DP" ]; then QUIET=$QUIET bash "$here/dataplane.sh" down; fi
# Clients first (they would log errors while the broker and the database go away), then the rest.
stop_one neutron 60 & a=$!
stop_one keystone 30 & b=$!
wait $a $b
stop_one rabbitmq 60 & a=$!
stop_one mariadb 60 & b=$!
wait $a $b
stop_one epmd 10
# Every process launch() started carries VPNAAS_CLOUD_STATE=<this state folder> in its environment, and so do its
# children: one still running here lost its pid file (seen once: a RabbitMQ left running after a CI run) and is
# stopped as well, its process group first by TERM, then by KILL.
sweep_state_processes
log "stopped in $(secs "$t" "$(now)") s"
if [ "$PURGE" = 1 ]; then
  exec 9>&-
  rm -rf "$S"
  log "removed $S"
fi
