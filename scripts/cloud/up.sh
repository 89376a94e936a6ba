#!/usr/bin/env bash
# A real, local OpenStack for tests: Keystone + Neutron (ML2, L3, VPNaaS with the strongSwan IPsec driver) from
# Debian's packages, with MariaDB and RabbitMQ, all on 127.0.0.1. Idempotent: installs what is missing, reuses
# services that are running and healthy, starts the others, seeds the clouds' objects and writes
#   <state>/openstack/clouds.yaml   clouds `local` (vpnaas-user, project vpnaas) and `local-admin`
#   <state>/openstack/seed.json     ids of the external network, routers (with gateway IPs) and subnets
#   <state>/openstack/cloud.json    URLs, ports, paths, pids and the timings of this run
# <state> is ${VPNAAS_STATE:-<repo>/.state}. Nothing outside it is changed except the installed packages.
#
# Settings (environment): VPNAAS_KEYSTONE_PORT (default 5000), VPNAAS_NEUTRON_PORT (9696), VPNAAS_RABBIT_PORT
# (5672), VPNAAS_RABBIT_DIST_PORT (25672), VPNAAS_EPMD_PORT (4369), VPNAAS_MARIADB_PORT (3306): a port set
# explicitly must be free; a default that is taken is replaced by a free port (recorded in ports.env).
# VPNAAS_ROUTERS: number of routers with a gateway (default 12; a running cloud with fewer is seeded with more). VPNAAS_CLOUD_NO_INSTALL=1: never run apt-get.
# VPNAAS_NEUTRON_DEBUG=true: neutron-server logs at debug level.
# VPNAAS_DATAPLANE=1 (make cloud-up DATAPLANE=1): also a real data plane (scripts/cloud/dataplane.sh: the
# linuxbridge agent, the L3 agent with the VPN agent and strongSwan, two "VM" namespaces); 2 routers by default.
# VPNAAS_DP_STATUS_INTERVAL: the VPN agent's ipsec_status_check_interval (default 15 s).
# VPNAAS_PORTS_LOCK: the machine-wide lock file that serialises port choice across checkouts
# (default /tmp/vpnaas-operator-cloud-ports.lock).
# Options: --reseed (seed even if seed.json is current), --quiet (no progress lines, only the summary).
# Stop with scripts/cloud/down.sh.
set -euo pipefail

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
RESEED=0
QUIET=0
for a in "$@"; do
  case $a in
    --reseed) RESEED=1 ;;
    --quiet) QUIET=1 ;;
    *) echo "usage: $0 [--reseed] [--quiet]" >&2; exit 2 ;;
  esac
done

T0=$(now)
declare -A TIMING=()

mkdir -p "$S"
# One up.sh at a time per state folder (parallel test workers call it). Started services must not inherit fd 9
# (nor fd 8, the ports lock below).
exec 9>"$S/.lock"
flock 9

# ---------------------------------------------------------------------------------------------------------------
# 1. Packages

PACKAGES=(neutron-server python3-neutron-vpnaas keystone rabbitmq-server mariadb-server mariadb-client
  python3-pymysql python3-oslo.messaging uwsgi-core uwsgi-plugin-python3 sqlite3 procps)
DATAPLANE=${VPNAAS_DATAPLANE:-0}
[ "$DATAPLANE" = 1 ] && PACKAGES+=("${DATAPLANE_PACKAGES[@]}")

missing_packages() {
  local p st
  for p in "${PACKAGES[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || echo "$p"
  done
}

install_packages() {
  local missing
  missing=$(missing_packages)
  [ -n "$missing" ] || { TIMING[install]=0; return; }
  [ "${VPNAAS_CLOUD_NO_INSTALL:-0}" != 1 ] || die "missing packages: $(echo $missing)"
  [ "$(id -u)" = 0 ] || die "missing packages ($(echo $missing)); run as root to install them"
  log "installing: $(echo $missing) (and their dependencies)"
  local t=$(now) rc=0
  prc=/usr/sbin/policy-rc.d saved=""
  # Keep the packages' services from starting: a policy-rc.d that denies everything, the previous one restored.
  if [ -e "$prc" ] || [ -L "$prc" ]; then saved=$(mktemp /usr/sbin/.policy-rc.d.vpnaas.XXXXXX); cp -a "$prc" "$saved"; fi
  restore_prc() { if [ -n "$saved" ]; then mv -f "$saved" "$prc"; else rm -f "$prc"; fi; }
  trap restore_prc EXIT
  trap 'exit 130' INT TERM HUP
  printf '#!/bin/sh\n# vpnaas-operator scripts/cloud/up.sh: no service starts during this install\nexit 101\n' >"$prc"
  chmod 755 "$prc"
  local before after
  services() { # pids of the programs these packages run (no pgrep before procps is installed)
    local d
    for d in /proc/[0-9]*; do
      case $(cat "$d/comm" 2>/dev/null) in mariadbd | mysqld | beam.smp | epmd | uwsgi | neutron-server*) echo "${d#/proc/}" ;; esac
    done | sort
  }
  before=$(services)
  local apt=(apt-get -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  # apt-get update first when the lists are missing or do not know a package (fresh machine, stale lists).
  if ! apt-cache show $missing >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" update -qq || rc=$?
  fi
  if [ $rc = 0 ]; then
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -q --no-install-recommends $missing \
      >"$S/apt-install.log" 2>&1 || rc=$?
    if [ $rc != 0 ]; then # stale package lists (a version gone from the mirror): update once and try again
      rc=0
      DEBIAN_FRONTEND=noninteractive "${apt[@]}" update -qq && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install \
        -y -q --no-install-recommends $missing >>"$S/apt-install.log" 2>&1 || rc=$?
    fi
  fi
  restore_prc
  trap - EXIT INT TERM HUP
  [ $rc = 0 ] || { tail -n 30 "$S/apt-install.log" >&2; die "apt-get install failed ($rc), log: $S/apt-install.log"; }
  # A postinst that started a service despite policy-rc.d: stop only what appeared during the install.
  after=$(services)
  local p
  # Only a process that runs with the packages' own configuration or data (others on this machine may run the
  # same programs); an epmd that appeared is reported, not stopped (it may be anybody's).
  local cmd
  for p in $(comm -13 <(echo "$before") <(echo "$after")); do
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null || true)
    if echo "$cmd" | grep -qE '/etc/(mysql|rabbitmq|keystone|neutron)|/var/lib/(mysql|rabbitmq|keystone|neutron)'; then
      log "stopping pid $p ($cmd), started by a package's postinst"
      kill "$p" 2>/dev/null || true
    else
      log "warning: pid $p ($cmd) appeared during the install; left alone"
    fi
  done
  TIMING[install]=$(secs "$t" "$(now)")
  log "installed in ${TIMING[install]} s ($(grep -c '^Setting up' "$S/apt-install.log" || true) packages set up)"
}
install_packages

# ---------------------------------------------------------------------------------------------------------------
# 2. State folder, secrets, ports

# Python entry-point caches (stevedore) of the services and the manage commands go here, not to ~/.cache.
export XDG_CACHE_HOME=$S/cache
mkdir -p "$S"/{cache,logs,run,mariadb/data,mariadb/tmp,rabbitmq/mnesia,rabbitmq/home,keystone/fernet-keys,keystone/credential-keys,keystone/policy.d,neutron/state,neutron/lock,neutron/policy.d}
chmod 700 "$S/keystone/fernet-keys" "$S/keystone/credential-keys" "$S/rabbitmq/home"

if [ ! -s "$S/secrets.env" ]; then
  gen() { $PY -c 'import secrets; print(secrets.token_urlsafe(24))'; }
  umask 077
  {
    echo "ADMIN_PASSWORD=$(gen)"
    echo "USER_PASSWORD=$(gen)"
    echo "NEUTRON_SERVICE_PASSWORD=$(gen)"
    echo "DB_PASSWORD=$(gen)"
    echo "RABBIT_PASSWORD=$(gen)"
    echo "ERLANG_COOKIE=$($PY -c 'import secrets; print(secrets.token_hex(16).upper())')"
  } >"$S/secrets.env.tmp"
  mv "$S/secrets.env.tmp" "$S/secrets.env"
  umask 022
fi
# shellcheck disable=SC1091
. "$S/secrets.env"

# Ports are chosen free and bound a few seconds later by the services: another checkout's up.sh on this machine
# (a second clone, CI next to a developer) could pick the same ones in between. One machine-wide lock, held from
# choosing the ports until every service listens, serialises that part across checkouts.
PORTS_LOCK=${VPNAAS_PORTS_LOCK:-/tmp/vpnaas-operator-cloud-ports.lock}
exec 8>>"$PORTS_LOCK"
chmod a+rw "$PORTS_LOCK" 2>/dev/null || true
flock 8

declare -A PORT=()
[ -s "$S/ports.env" ] && while IFS='=' read -r k v; do [ -n "$k" ] && PORT[$k]=$v; done <"$S/ports.env"
choose_port() { # key env-var default service-name
  local key=$1 var=$2 def=$3 svc=$4 want
  want=${!var:-}
  if [ -n "$(pid_of "$svc")" ] && [ -n "${PORT[$key]:-}" ]; then
    if [ -n "$want" ] && [ "$want" != "${PORT[$key]}" ]; then
      die "$var=$want but $svc is running on ${PORT[$key]}: stop it first (scripts/cloud/down.sh)"
    fi
    return
  fi
  if [ -n "$want" ]; then
    PORT[$key]=$($CLOUD pick-port "$want" --strict) || die "$var=$want: port taken"
  else
    # The default first, then the port used last time (a fallback chosen earlier), then any free one.
    PORT[$key]=$($CLOUD pick-port "$def" "${PORT[$key]:-}")
  fi
}
choose_port MARIADB_PORT VPNAAS_MARIADB_PORT 3306 mariadb
choose_port EPMD_PORT VPNAAS_EPMD_PORT 4369 epmd
choose_port RABBIT_PORT VPNAAS_RABBIT_PORT 5672 rabbitmq
choose_port RABBIT_DIST_PORT VPNAAS_RABBIT_DIST_PORT 25672 rabbitmq
choose_port KEYSTONE_PORT VPNAAS_KEYSTONE_PORT 5000 keystone
choose_port NEUTRON_PORT VPNAAS_NEUTRON_PORT 9696 neutron
if [ "$DATAPLANE" = 1 ]; then
  # The L3 agent hosts every router (and spends CPU on each): the data plane's cloud has the example's two.
  ROUTERS=${VPNAAS_ROUTERS:-2}
else
  ROUTERS=${VPNAAS_ROUTERS:-${PORT[ROUTERS]:-12}}
  # Suites own router indexes up to 11 (test/support/openstack.ts): an older state with fewer gets more.
  if [[ -z ${VPNAAS_ROUTERS:-} && $ROUTERS -lt 12 ]]; then ROUTERS=12; fi
fi
PORT[ROUTERS]=$ROUTERS
for k in MARIADB_PORT EPMD_PORT RABBIT_PORT RABBIT_DIST_PORT KEYSTONE_PORT NEUTRON_PORT ROUTERS; do
  echo "$k=${PORT[$k]}"
done >"$S/ports.env.tmp"
mv "$S/ports.env.tmp" "$S/ports.env"
MARIADB_PORT=${PORT[MARIADB_PORT]} EPMD_PORT=${PORT[EPMD_PORT]} RABBIT_PORT=${PORT[RABBIT_PORT]}
RABBIT_DIST_PORT=${PORT[RABBIT_DIST_PORT]} KEYSTONE_PORT=${PORT[KEYSTONE_PORT]} NEUTRON_PORT=${PORT[NEUTRON_PORT]}
KEYSTONE_URL=http://127.0.0.1:$KEYSTONE_PORT
NEUTRON_URL=http://127.0.0.1:$NEUTRON_PORT
# Unique per state folder, so that two checkouts on one machine do not collide.
NODE_ID=$(echo -n "$S" | sha1sum | cut -c1-8)
RABBIT_NODENAME=vpnaas-$NODE_ID@localhost

# ---------------------------------------------------------------------------------------------------------------
# 3. Configuration files (written each run; a running service whose file changed is restarted)

CHANGED=()
write_conf() { # path service <<content
  local path=$1 svc=$2 tmp
  tmp=$(mktemp "$path.XXXXXX")
  cat >"$tmp"
  chmod 600 "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then rm -f "$tmp"; return; fi
  mv -f "$tmp" "$path"
  CHANGED+=("$svc")
}

write_conf "$S/mariadb/my.cnf" mariadb <<EOF
[mysqld]
datadir = $S/mariadb/data
socket = $S/run/mariadb.sock
pid-file = $S/run/mariadb.server.pid
tmpdir = $S/mariadb/tmp
log-error = $S/logs/mariadb.log
bind-address = 127.0.0.1
port = $MARIADB_PORT
user = root
skip-name-resolve
skip-log-bin
performance_schema = OFF
innodb_buffer_pool_size = 32M
innodb_log_file_size = 32M
innodb_flush_log_at_trx_commit = 2
max_connections = 400
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci

[client]
socket = $S/run/mariadb.sock
user = root
EOF

write_conf "$S/rabbitmq/rabbitmq.conf" rabbitmq <<EOF
listeners.tcp.default = 127.0.0.1:$RABBIT_PORT
default_user = vpnaas
default_pass = $RABBIT_PASSWORD
loopback_users = none
disk_free_limit.absolute = 50MB
log.file.level = info
log.console = false
EOF
write_conf "$S/rabbitmq/enabled_plugins" rabbitmq <<<'[].'
if [ ! -s "$S/rabbitmq/home/.erlang.cookie" ]; then
  (umask 077; printf '%s' "$ERLANG_COOKIE" >"$S/rabbitmq/home/.erlang.cookie")
fi

write_conf "$S/keystone/keystone.conf" keystone <<EOF
[DEFAULT]
log_dir = $S/logs
log_file = keystone.log
use_stderr = false

[database]
connection = sqlite:///$S/keystone/keystone.db

[fernet_tokens]
key_repository = $S/keystone/fernet-keys

[fernet_receipts]
key_repository = $S/keystone/fernet-keys

[credential]
key_repository = $S/keystone/credential-keys

[identity]
# bcrypt with the smallest cost: a password check takes ~1 ms instead of ~250 ms (tests authenticate a lot).
password_hash_rounds = 4

[oslo_policy]
policy_dirs = $S/keystone/policy.d
EOF

write_conf "$S/keystone/uwsgi.ini" keystone <<EOF
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:$KEYSTONE_PORT
wsgi-file = /usr/bin/keystone-wsgi-public
env = OS_KEYSTONE_CONFIG_FILES=$S/keystone/keystone.conf
chdir = $S/keystone
master = true
processes = 1
threads = 8
enable-threads = true
lazy-apps = true
need-app = true
die-on-term = true
no-orphans = true
buffer-size = 65535
listen = 100
pidfile = $S/run/keystone.uwsgi.pid
disable-logging = true
EOF

# With the data plane: ML2 linuxbridge, and the VXLAN devices (vxlan-<VNI>) live in the host's namespace, so this
# cloud has a VNI range of its own. Without it the file is as it always was (a running neutron-server is reused).
ML2_MECH= VNI_RANGES=1:1000
[ "$DATAPLANE" = 1 ] && ML2_MECH=" linuxbridge" VNI_RANGES=$DP_VNI_MIN:$DP_VNI_MAX
# Now and then a request's greenthread is lost: eventlet's hub fails to switch back to it ("SystemError: <built-in
# method switch of GreenThread ...> returned NULL without setting an exception", then "Removing descriptor" in
# neutron.out), and it waits for its database answer forever. With one request at a time that stops the whole API
# (seen under the real agent: every request unanswered for 9 minutes). The data-plane cloud serves a few clients
# (the operator, one suite, the agents' RPC goes to another process): 8 at a time, so a lost request costs only
# its own client a timeout and a retry. (Without the data plane neutron.conf stays byte-identical to before.)
WSGI_POOL=1
[ "$DATAPLANE" = 1 ] && WSGI_POOL=8
neutron_conf() {
cat <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $NEUTRON_PORT
host = vpnaas-local
# Debian's neutron-server (eventlet, Python 3.11) leaks a database connection for every request that runs while
# another one does (the pool then stays exhausted: every request hangs 30 s and fails). One request at a time per
# API worker, and no keep-alive (which would hold that one slot), avoids it; the test clients retry and queue.
wsgi_default_pool_size = $WSGI_POOL
wsgi_keep_alive = false
core_plugin = ml2
service_plugins = router,vpnaas
auth_strategy = keystone
allow_overlapping_ips = true
transport_url = rabbit://vpnaas:$RABBIT_PASSWORD@127.0.0.1:$RABBIT_PORT/
control_exchange = neutron
# One API worker process; rpc_workers < 1 still gives one RPC worker process (neutron/service.py). The VPNaaS
# ipsec_driver consumer (agent status reports) is created when the plugin loads, so it runs in the parent.
api_workers = 1
rpc_workers = 0
rpc_state_report_workers = 0
state_path = $S/neutron/state
api_paste_config = /etc/neutron/api-paste.ini
log_dir = $S/logs
log_file = neutron-server.log
use_stderr = false
debug = ${VPNAAS_NEUTRON_DEBUG:-false}
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
dhcp_agent_notification = false

[database]
connection = mysql+pymysql://neutron:$DB_PASSWORD@127.0.0.1:$MARIADB_PORT/neutron?charset=utf8mb4
max_pool_size = 10
max_overflow = 200

[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
user_domain_name = Default
project_domain_name = Default
project_name = service
username = neutron
password = $NEUTRON_SERVICE_PASSWORD

[oslo_policy]
# Must name a folder of our own: Debian's /etc/neutron/policy.d or no folder makes every call fail with 500.
policy_dirs = $S/neutron/policy.d

[oslo_concurrency]
lock_path = $S/neutron/lock

[service_providers]
service_provider = VPN:strongswan:neutron_vpnaas.services.vpn.service_drivers.ipsec.IPsecVPNDriver:default

[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers =$ML2_MECH
extension_drivers =

[ml2_type_flat]
flat_networks = physnet1

[ml2_type_vxlan]
vni_ranges = $VNI_RANGES
EOF
if [ "$DATAPLANE" = 1 ]; then
  cat <<EOF

[experimental]
# Zed marks the linuxbridge mechanism driver experimental: neutron-server refuses it without this
linuxbridge = true
EOF
fi
}
write_conf "$S/neutron/neutron.conf" neutron < <(neutron_conf)

# ---------------------------------------------------------------------------------------------------------------
# 4. Services

# A data plane left running by an earlier DATAPLANE=1 run goes first when this run has none.
if [ "$DATAPLANE" != 1 ] && [ -s "$DP/dataplane.env" ]; then bash "$here/dataplane.sh" down; fi

changed() { local c; for c in "${CHANGED[@]}"; do [ "$c" = "$1" ] && return 0; done; return 1; }

# Starts a program in its own session, detached from this script (no inherited pipes or lock), logs to a file.
launch() { # name command...
  local name=$1; shift
  VPNAAS_CLOUD_STATE=$S setsid "$@" </dev/null >>"$S/logs/$name.out" 2>&1 8>&- 9>&- &
  echo $! >"$S/run/$name.pid"
}

# reuse name health-command...: true (and REUSED[name]=1) when the service runs, is healthy and its configuration
# did not change; otherwise stops it (if it runs) so that it is started again, and returns false.
declare -A REUSED=() STARTED_AT=()
reuse() {
  local name=$1; shift
  local pid
  pid=$(pid_of "$name")
  if [ -n "$pid" ]; then
    if ! changed "$name" && "$@" >/dev/null 2>&1; then REUSED[$name]=1; return 0; fi
    log "$name (pid $pid) is unhealthy or its configuration changed: restarting"
    stop_one "$name" 60
  fi
  return 1
}

mariadb_ping() { mariadb-admin --defaults-file="$S/mariadb/my.cnf" --connect-timeout=2 ping; }
mariadb_wait() { # timeout --pid pid
  local i
  for ((i = 0; i < $1 * 5; i++)); do
    mariadb_ping >/dev/null 2>&1 && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

start_mariadb() {
  if reuse mariadb mariadb_ping; then return; fi
  if [ ! -d "$S/mariadb/data/mysql" ]; then
    local t=$(now)
    rm -rf "$S/mariadb/data"; mkdir -p "$S/mariadb/data"
    mariadb-install-db --defaults-file="$S/mariadb/my.cnf" --auth-root-authentication-method=socket \
      --skip-test-db >"$S/logs/mariadb-install-db.log" 2>&1 || die "mariadb-install-db failed: $S/logs/mariadb-install-db.log"
    TIMING[mariadb_init]=$(secs "$t" "$(now)")
  fi
  STARTED_AT[mariadb]=$(now)
  launch mariadb /usr/sbin/mariadbd --defaults-file="$S/mariadb/my.cnf"
}

start_rabbitmq() {
  local amqp_check=($CLOUD wait-amqp "$RABBIT_PORT" vpnaas "$S/secrets.env" 3)
  if reuse rabbitmq "${amqp_check[@]}"; then
    [ -n "$(pid_of epmd)" ] && REUSED[epmd]=1
    return
  fi
  # Our own epmd, on loopback and on our port, so that it is ours to stop.
  if [ -z "$(pid_of epmd)" ]; then
    launch epmd /usr/bin/epmd -address 127.0.0.1 -port "$EPMD_PORT"
  else
    REUSED[epmd]=1
  fi
  STARTED_AT[rabbitmq]=$(now)
  launch rabbitmq env HOME="$S/rabbitmq/home" \
    ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$EPMD_PORT" \
    RABBITMQ_NODENAME="$RABBIT_NODENAME" RABBITMQ_USE_LONGNAME=false \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$RABBIT_PORT" RABBITMQ_DIST_PORT="$RABBIT_DIST_PORT" \
    RABBITMQ_CONFIG_FILE="$S/rabbitmq/rabbitmq.conf" RABBITMQ_ADVANCED_CONFIG_FILE="$S/rabbitmq/advanced.config" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$S/rabbitmq/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$S/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$S/logs/rabbitmq" \
    RABBITMQ_PID_FILE="$S/run/rabbitmq.server.pid" RABBITMQ_LOGS="$S/logs/rabbitmq/rabbit.log" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    /usr/lib/rabbitmq/bin/rabbitmq-server
}

keystone_ok() { $CLOUD wait-http "$KEYSTONE_URL/v3" 3; }

# Freshly migrated databases, cached machine-wide by package version: a new checkout loads them instead of
# running the migrations again (neutron-db-manage upgrade heads took 21 s of a 57 s cold start on a loaded
# machine, keystone-manage db_sync 9 s). Only ever written right after a successful migration of an empty
# database; the version key makes a package upgrade migrate afresh.
SCHEMA_CACHE=${VPNAAS_CLOUD_CACHE:-${HOME:-/root}/.cache/vpnaas-operator/openstack}
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | tr -c 'A-Za-z0-9.+~\n-' _; }
cache_put() { # src dest: copy atomically into the cache (best effort)
  mkdir -p "$SCHEMA_CACHE" 2>/dev/null && cp "$1" "$2.tmp.$$" 2>/dev/null && mv -f "$2.tmp.$$" "$2" 2>/dev/null \
    || rm -f "$2.tmp.$$"
}

keystone_prepare() {
  local conf=$S/keystone/keystone.conf t=$(now)
  if [ ! -s "$S/keystone/keystone.db" ] || [ ! -f "$S/keystone/.db-synced" ]; then
    local cached=$SCHEMA_CACHE/keystone-$(pkg_version keystone).db
    rm -f "$S/keystone/keystone.db" "$S/keystone/keystone.db-wal" "$S/keystone/keystone.db-shm"
    if [ -s "$cached" ] && cp "$cached" "$S/keystone/keystone.db" \
      && [ "$(sqlite3 "$S/keystone/keystone.db" 'PRAGMA integrity_check;' 2>/dev/null)" = ok ]; then
      echo "keystone.db from $cached" >>"$S/logs/keystone-manage.log"
    else
      rm -f "$S/keystone/keystone.db"
      keystone-manage --config-file "$conf" db_sync >>"$S/logs/keystone-manage.log" 2>&1 \
        || die "keystone-manage db_sync failed: $S/logs/keystone-manage.log"
      sqlite3 "$S/keystone/keystone.db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null 2>&1 || true
      cache_put "$S/keystone/keystone.db" "$cached"
    fi
    sqlite3 "$S/keystone/keystone.db" 'PRAGMA journal_mode=WAL;' >/dev/null
    touch "$S/keystone/.db-synced"
    bg_note keystone_db_sync "$(secs "$t" "$(now)")"
  fi
  if [ ! -s "$S/keystone/fernet-keys/0" ]; then
    keystone-manage --config-file "$conf" fernet_setup --keystone-user root --keystone-group root \
      >>"$S/logs/keystone-manage.log" 2>&1 || die "keystone-manage fernet_setup failed"
  fi
  if [ ! -s "$S/keystone/credential-keys/0" ]; then
    keystone-manage --config-file "$conf" credential_setup --keystone-user root --keystone-group root \
      >>"$S/logs/keystone-manage.log" 2>&1 || die "keystone-manage credential_setup failed"
  fi
  if [ ! -f "$S/keystone/.bootstrapped" ]; then keystone_bootstrap; touch "$S/keystone/.bootstrapped"; fi
}

keystone_bootstrap() {
  # Idempotent: creates the admin user/project/role, the member and reader roles, RegionOne and the identity
  # endpoints when missing, and sets the admin password.
  local t=$(now)
  OS_BOOTSTRAP_PASSWORD=$ADMIN_PASSWORD keystone-manage --config-file "$S/keystone/keystone.conf" bootstrap \
    --bootstrap-username admin --bootstrap-project-name admin \
    --bootstrap-role-name admin --bootstrap-region-id RegionOne \
    --bootstrap-admin-url "$KEYSTONE_URL/v3" --bootstrap-internal-url "$KEYSTONE_URL/v3" \
    --bootstrap-public-url "$KEYSTONE_URL/v3" >>"$S/logs/keystone-manage.log" 2>&1 \
    || die "keystone-manage bootstrap failed: $S/logs/keystone-manage.log"
  bg_note keystone_bootstrap "$(secs "$t" "$(now)")"
}

# Keystone's set-up (database, keys, bootstrap: several seconds of keystone-manage) runs in the background,
# alongside MariaDB's and RabbitMQ's start-up and Neutron's database migration; it reports through bg.env.
bg_note() { echo "$1=$2" >>"$S/run/bg.env"; }
KEYSTONE_BG=
start_keystone() {
  if reuse keystone keystone_ok; then return; fi
  rm -f "$S/run/bg.env"
  (
    keystone_prepare
    bg_note started_keystone "$(now)"
    launch keystone /usr/bin/uwsgi --ini "$S/keystone/uwsgi.ini"
  ) &
  KEYSTONE_BG=$!
}
join_keystone() {
  [ -n "$KEYSTONE_BG" ] || return 0
  wait "$KEYSTONE_BG" || die "Keystone's set-up failed, logs in $S/logs"
  local k v
  while IFS='=' read -r k v; do
    case $k in started_keystone) STARTED_AT[keystone]=$v ;; *) TIMING[$k]=$v ;; esac
  done <"$S/run/bg.env"
}

neutron_ok() { $CLOUD wait-http "$NEUTRON_URL/" 3; }

neutron_db() {
  local t=$(now) sql
  sql="CREATE DATABASE IF NOT EXISTS neutron CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'neutron'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER 'neutron'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON neutron.* TO 'neutron'@'127.0.0.1';"
  mariadb --defaults-file="$S/mariadb/my.cnf" <<<"$sql" || die "cannot create the neutron database"
  if [ -z "$(mariadb --defaults-file="$S/mariadb/my.cnf" -N -e "SHOW TABLES FROM neutron LIKE 'vpnservices'")" ]; then
    local cached=$SCHEMA_CACHE/neutron-$(pkg_version neutron-common)-vpnaas-$(pkg_version python3-neutron-vpnaas).sql
    local tables
    tables=$(mariadb --defaults-file="$S/mariadb/my.cnf" -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='neutron'")
    if [ "$tables" = 0 ] && [ -s "$cached" ] \
      && mariadb --defaults-file="$S/mariadb/my.cnf" neutron <"$cached" 2>>"$S/logs/neutron-db-manage.log"; then
      echo "neutron database loaded from $cached" >>"$S/logs/neutron-db-manage.log"
    else
      neutron-db-manage --config-file "$S/neutron/neutron.conf" upgrade heads >>"$S/logs/neutron-db-manage.log" 2>&1 \
        || die "neutron-db-manage upgrade heads failed: $S/logs/neutron-db-manage.log"
      # Cache only a migration of an empty database (nothing of ours in it yet).
      if [ "$tables" = 0 ]; then
        mariadb-dump --defaults-file="$S/mariadb/my.cnf" --single-transaction --skip-comments --skip-dump-date neutron \
          >"$S/run/neutron-schema.sql" 2>>"$S/logs/neutron-db-manage.log" && cache_put "$S/run/neutron-schema.sql" "$cached"
        rm -f "$S/run/neutron-schema.sql"
      fi
    fi
    TIMING[neutron_db_sync]=$(secs "$t" "$(now)")
  fi
}

start_neutron() {
  # neutron-server needs MariaDB (and RabbitMQ, which it retries); Keystone only for requests.
  if reuse neutron neutron_ok; then return; fi
  neutron_db
  STARTED_AT[neutron]=$(now)
  launch neutron /usr/bin/neutron-server --config-file "$S/neutron/neutron.conf"
}

wait_ready() { # name timeout check-command...
  local name=$1 timeout=$2; shift 2
  if [ -n "${REUSED[$name]:-}" ]; then log "$name: running (pid $(pid_of "$name")), reused"; return; fi
  "$@" "$timeout" --pid "$(cat "$S/run/$name.pid")" \
    || { tail -n 20 "$S/logs/$name.out" >&2 2>/dev/null; die "$name did not become ready, logs in $S/logs"; }
  TIMING[start_$name]=$(secs "${STARTED_AT[$name]}" "$(now)")
  log "$name: started (pid $(pid_of "$name")) in ${TIMING[start_$name]} s"
}

start_mariadb
start_rabbitmq
start_keystone
wait_ready mariadb 60 mariadb_wait
start_neutron
join_keystone
wait_ready keystone 90 $CLOUD wait-http "$KEYSTONE_URL/v3"
wait_ready rabbitmq 120 $CLOUD wait-amqp "$RABBIT_PORT" vpnaas "$S/secrets.env"
wait_ready neutron 120 $CLOUD wait-http "$NEUTRON_URL/"
exec 8>&- # every service listens on its port: other checkouts may choose theirs now

# ---------------------------------------------------------------------------------------------------------------
# 5. Seed

# Seeded before with the same ports and secrets, and the seeded objects are still there: nothing to do.
SEED_KEY=$(cat "$S/ports.env" "$S/secrets.env" | sha1sum | cut -c1-16)
seed_current() {
  [ "$RESEED" = 0 ] && [ -s "$S/seed.json" ] && [ -s "$S/clouds.yaml" ] \
    && [ "$(cat "$S/.seeded" 2>/dev/null)" = "$SEED_KEY" ] && $CLOUD check-seed "$S" 2>/dev/null
}
if ! seed_current; then
  t=$(now)
  $CLOUD seed "$S" || die "seeding failed"
  echo "$SEED_KEY" >"$S/.seeded"
  TIMING[seed]=$(secs "$t" "$(now)")
  log "seeded in ${TIMING[seed]} s"
else
  TIMING[seed]=0
fi

if [ "$DATAPLANE" = 1 ]; then
  t=$(now)
  bash "$here/dataplane.sh" up || die "the data plane did not come up, logs in $DP/logs"
  TIMING[dataplane]=$(secs "$t" "$(now)")
  log "data plane ready in ${TIMING[dataplane]} s"
fi

TIMING[total]=$(secs "$T0" "$(now)")

# ---------------------------------------------------------------------------------------------------------------
# 6. Summary

timings_json=$(for k in "${!TIMING[@]}"; do printf '"%s": %s\n' "$k" "${TIMING[$k]}"; done | sort | paste -sd, -)
reused_json=$(for k in "${!REUSED[@]}"; do printf '"%s"\n' "$k"; done | sort | paste -sd, -)
cat >"$S/cloud.json.tmp" <<EOF
{
  "stateDir": "$S",
  "cloudsYaml": "$S/clouds.yaml",
  "seedJson": "$S/seed.json",
  "neutronConf": "$S/neutron/neutron.conf",
  "authUrl": "$KEYSTONE_URL/v3",
  "networkUrl": "$NEUTRON_URL",
  "ports": {"keystone": $KEYSTONE_PORT, "neutron": $NEUTRON_PORT, "rabbitmq": $RABBIT_PORT, "rabbitmqDist": $RABBIT_DIST_PORT, "epmd": $EPMD_PORT, "mariadb": $MARIADB_PORT},
  "dataplane": $([ "$DATAPLANE" = 1 ] && echo true || echo false),
  "pids": {$(for n in mariadb epmd rabbitmq keystone neutron $([ "$DATAPLANE" = 1 ] && echo "${DP_AGENTS[@]}"); do p=$(pid_of $n); [ -z "$p" ] || printf '"%s": %s\n' "$n" "$p"; done | paste -sd, -)},
  "reused": [${reused_json}],
  "timingsSeconds": {${timings_json}}
}
EOF
mv "$S/cloud.json.tmp" "$S/cloud.json"

{
  echo "local OpenStack ready in ${TIMING[total]} s"
  for k in $(echo "${!TIMING[@]}" | tr ' ' '\n' | sort); do printf '  %-20s %6s s\n' "$k" "${TIMING[$k]}"; done
  echo "  keystone  $KEYSTONE_URL/v3"
  echo "  neutron   $NEUTRON_URL"
  echo "  clouds    $S/clouds.yaml (clouds: local, local-admin)"
  echo "  seed      $S/seed.json"
  echo "  info      $S/cloud.json"
  echo "  state     $S (logs in $S/logs; stop with scripts/cloud/down.sh)"
  if [ "$QUIET" != 1 ]; then
    echo "memory:"
    $CLOUD mem $(for n in mariadb epmd rabbitmq keystone neutron $([ "$DATAPLANE" = 1 ] && echo "${DP_AGENTS[@]}"); do echo "$n=$(pid_of $n)"; done)
  fi
}
