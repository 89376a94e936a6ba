#!/usr/bin/env bash
# A real VPN data plane for the local OpenStack of scripts/cloud/up.sh (which runs `dataplane.sh up` when
# VPNAAS_DATAPLANE=1; scripts/cloud/down.sh runs `dataplane.sh down`):
#   - neutron-linuxbridge-agent: flat physnet1 (the provider network ext-net) on a bridge of its own, VXLAN tenant
#     networks over an isolated underlay bridge;
#   - neutron-l3-agent with the vpnaas extension: the StrongSwan driver, with strongSwan's userspace ESP
#     (kernel-libipsec: a TUN device ipsec0 and ESP-in-UDP on 4500; this kernel has no ESP);
#   - a "VM" namespace behind each of the first two routers, plugged into its tenant network through a Neutron port.
# Each agent runs as the child of tini, PID 1 of a PID namespace of its own (unshare --pid --mount-proc): the VPN
# driver's netns wrapper reads /proc/1/ns/net, which a sandbox's PID 1 does not allow; stopping tini ends
# everything inside (privsep daemons, the rootwrap daemon, starter and charon).
# Every name made outside <state>/openstack/dataplane is derived from the state folder (lib.sh: DP_*), so two
# checkouts can run one each. Root only.
#
# usage: dataplane.sh up|down
#   up    starts (or reuses) the agents, waits for the routers (qrouter namespaces, ports ACTIVE), makes the VMs and
#         adds a "dataplane" section to seed.json (agent host, VM namespaces, IPs, ports)
#   down  removes every process, namespace, bridge, VXLAN device, veth and agent record it made (neutron-server
#         must still run for the agent records: down.sh calls it first)
# env: VPNAAS_DP_STATUS_INTERVAL ([ipsec] ipsec_status_check_interval, default 15), VPNAAS_DP_DEBUG (false)
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
DPY="$PY $here/dataplane.py"
dplog() { [ "$QUIET" = 1 ] || echo "dataplane: $*" >&2; }

stop_agent() { # name: TERM to tini (PID 1 of the agent's PID namespace), then KILL; waits for unshare to exit
  local name=$1 u t i
  u=$(pid_of "$name")
  [ -n "$u" ] || { rm -f "$S/run/$name.pid"; return 0; }
  t=$(pgrep -P "$u" -x tini || true)
  [ -n "$t" ] && kill -TERM "$t" 2>/dev/null
  for ((i = 0; i < 200; i++)); do [ -d "/proc/$u" ] || break; sleep 0.1; done
  if [ -d "/proc/$u" ]; then
    [ -n "$t" ] && kill -KILL "$t" 2>/dev/null
    for ((i = 0; i < 50; i++)); do [ -d "/proc/$u" ] || break; sleep 0.1; done
    kill -KILL "$u" 2>/dev/null || true
  fi
  dplog "stopped $name (pid $u)"
  rm -f "$S/run/$name.pid"
}

neutron_up() { local p; p=$(sed -n 's/^NEUTRON_PORT=//p' "$S/ports.env" 2>/dev/null); [ -n "$p" ] && [ -n "$(pid_of neutron)" ] && $CLOUD wait-http "http://127.0.0.1:$p/" 3 >/dev/null 2>&1; }

# ------------------------------------------------------------------------------------------------------------ down
down() {
  local routers="" r ns dev n br p tap c
  if neutron_up; then routers=$($DPY routers "$S" 2>/dev/null || true); fi
  if [ -s "$S/seed.json" ]; then
    routers+=" $($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(r["id"] for r in d["routersWithGateway"] + [d["routerWithoutGateway"]]))' "$S/seed.json" 2>/dev/null || true)"
  fi
  for n in "${DP_AGENTS[@]}"; do stop_agent "$n"; done
  # The linuxbridge agent's ARP and MAC spoofing chains (ebtables nat) for the VM ports: it removes them only when
  # a port goes away while it runs.
  local taps
  taps=$(cat "$DP/taps" 2>/dev/null || true)
  for tap in $taps; do
    while ebtables -t nat -D PREROUTING -i "$tap" -j "neutronMAC-$tap" 2>/dev/null; do :; done
    while ebtables -t nat -D PREROUTING -p ARP -i "$tap" -j "neutronARP-$tap" 2>/dev/null; do :; done
    for c in "neutronMAC-$tap" "neutronARP-$tap"; do
      ebtables -t nat -F "$c" 2>/dev/null && ebtables -t nat -X "$c" 2>/dev/null && dplog "deleted ebtables chain $c"
    done
  done
  rm -f "$DP/taps"
  # The driver's per-router strongSwan folders: pid files of a charon that was killed would keep the next one from
  # starting (the agent writes them anew from Neutron when it syncs).
  rm -rf "$DP/state/ipsec"
  if neutron_up; then $DPY delete-agents "$S" "$DP_HOST" || dplog "warning: could not delete the agent records of $DP_HOST"; fi
  for r in $(echo $routers | tr ' ' '\n' | sort -u); do
    ip netns del "qrouter-$r" 2>/dev/null && dplog "deleted namespace qrouter-$r"
  done
  for ns in "$DP_VM_PREFIX-a" "$DP_VM_PREFIX-b"; do ip netns del "$ns" 2>/dev/null && dplog "deleted namespace $ns"; done
  # The tenant networks' bridges: brq<network> holding a vxlan-<VNI> of this cloud's VNI range.
  for dev in /sys/class/net/vxlan-*; do
    [ -e "$dev" ] || continue
    n=${dev##*/vxlan-}
    [[ $n =~ ^[0-9]+$ ]] && ((n >= DP_VNI_MIN && n <= DP_VNI_MAX)) || continue
    br=$(basename "$(readlink "$dev/master" 2>/dev/null)" 2>/dev/null || true)
    if [ -n "$br" ] && [[ $br == brq* ]]; then
      for p in /sys/class/net/$br/brif/*; do [ -e "$p" ] && ip link del "${p##*/}" 2>/dev/null; done
      ip link del "$br" 2>/dev/null && dplog "deleted bridge $br"
    fi
    ip link del "vxlan-$n" 2>/dev/null && dplog "deleted vxlan-$n"
  done
  for br in "$DP_BR_EXT" "$DP_BR_UL"; do
    for p in /sys/class/net/$br/brif/*; do [ -e "$p" ] && ip link del "${p##*/}" 2>/dev/null; done
    ip link del "$br" 2>/dev/null && dplog "deleted bridge $br"
  done
  # Anything else still running with this data plane's files is a leftover of ours.
  local d pid cmd
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}; [ "$pid" = $$ ] && continue
    cmd=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    if [[ $cmd == *"$DP/"* ]]; then dplog "leftover pid $pid: ${cmd:0:100}"; kill -KILL "$pid" 2>/dev/null || true; fi
  done
  if [ -s "$S/seed.json" ]; then
    $PY -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d.pop("dataplane", None); open(p + ".tmp", "w").write(json.dumps(d, indent=2) + "\n")' "$S/seed.json" \
      && mv -f "$S/seed.json.tmp" "$S/seed.json"
  fi
  rm -f "$DP/dataplane.env"
}

# -------------------------------------------------------------------------------------------------------------- up
write_configs() {
  local transport ipt
  transport=$($PY -c 'import configparser,sys; c=configparser.RawConfigParser(); c.read(sys.argv[1]); print(c["DEFAULT"]["transport_url"])' "$S/neutron/neutron.conf")
  umask 077
  cat >"$DP/common.conf" <<EOT
[DEFAULT]
host = $DP_HOST
transport_url = $transport
control_exchange = neutron
state_path = $DP/state
log_dir = $DP/logs
use_stderr = false
debug = ${VPNAAS_DP_DEBUG:-false}

[agent]
# neutron-vpn-netns-wrapper runs only with a rootwrap config, which the driver takes from this exact 3-word form
root_helper = sudo neutron-rootwrap $DP/rootwrap.conf
root_helper_daemon = sudo neutron-rootwrap-daemon $DP/rootwrap.conf
report_interval = 10

[oslo_concurrency]
lock_path = $DP/lock
EOT
  cat >"$DP/linuxbridge_agent.ini" <<EOT
[linux_bridge]
bridge_mappings = physnet1:$DP_BR_EXT

[vxlan]
enable_vxlan = true
local_ip = $DP_LOCAL_IP
l2_population = false

[securitygroup]
# no iptables firewall: it would change the host's iptables and net.bridge.bridge-nf-call-* sysctls
firewall_driver = noop
enable_security_group = false

[agent]
polling_interval = 2
EOT
  cat >"$DP/l3_agent.ini" <<EOT
[DEFAULT]
interface_driver = linuxbridge
agent_mode = legacy
enable_metadata_proxy = false

[agent]
extensions = vpnaas
EOT
  cat >"$DP/vpn_agent.ini" <<EOT
[vpnagent]
vpn_device_driver = neutron_vpnaas.services.vpn.device_drivers.strongswan_ipsec.StrongSwanDriver

[ipsec]
ipsec_status_check_interval = ${VPNAAS_DP_STATUS_INTERVAL:-15}

[strongswan]
default_config_area = $DP/strongswan.d
ipsec_config_template = $DP/ipsec.conf.template
EOT
  umask 022
  cat >"$DP/rootwrap.conf" <<EOT
[DEFAULT]
filters_path=/etc/neutron/rootwrap.d,$DP/rootwrap.d
exec_dirs=/sbin,/usr/sbin,/bin,/usr/bin
use_syslog=False
daemon_timeout=600
EOT
  # Debian's filters let privsep-helper run only with config files under /etc (ours are in the state folder), and
  # Debian packages no filters for neutron-vpnaas.
  cat >"$DP/rootwrap.d/vpnaas-dataplane.filters" <<EOT
[Filters]
privsep_state_folder: CommandFilter, privsep-helper, root
ipsec: CommandFilter, ipsec, root
neutron_vpn_netns_wrapper: CommandFilter, neutron-vpn-netns-wrapper, root
cp: CommandFilter, cp, root
rm: CommandFilter, rm, root
chown: CommandFilter, chown, root
EOT
  # strongSwan's configuration for the driver: Debian's, with the userspace IPsec backend (kernel-libipsec, loaded
  # before kernel-netlink so that it does the SAs; kernel-netlink still does addresses and routes) and the other
  # extra plugins off; charon logs to <router's config dir>/var/run/charon.log.
  rm -rf "$DP/strongswan.d"; cp -a /etc/strongswan.d "$DP/strongswan.d"
  local p
  for p in $(dpkg -L libcharon-extra-plugins | sed -n 's#^/etc/strongswan.d/charon/\(.*\)\.conf$#\1#p'); do
    [ "$p" = kernel-libipsec ] || sed -i 's/^\(\s*\)load = yes/\1load = no/' "$DP/strongswan.d/charon/$p.conf"
  done
  sed -i 's/^\(\s*\)load = no/\1load = 10/' "$DP/strongswan.d/charon/kernel-libipsec.conf"
  cat >"$DP/strongswan.d/charon-logging.conf" <<'EOT'
charon {
    filelog {
        charon {
            path = /var/run/charon.log
            time_format = %b %e %T
            append = yes
            default = 1
            flush_line = yes
        }
    }
}
EOT
  # Decrypted packets enter the qrouter namespace on ipsec0, which the L3 agent's address-scope rules do not mark:
  # its FORWARD scope filter would drop them. The updown script gives them the mark of the gateway (qg-) port.
  # /etc (so /etc/alternatives) is bind-mounted away under charon: name the iptables backend's own command.
  ipt=$(readlink /etc/alternatives/iptables 2>/dev/null || echo /usr/sbin/iptables-nft)
  cat >"$DP/libipsec-updown.sh" <<EOT
#!/bin/sh
# strongSwan leftupdown for kernel-libipsec (written by scripts/cloud/dataplane.sh)
case "\$PLUTO_VERB" in
  up-client*)
    mark=\$($ipt-save -t mangle | sed -n 's/^-A neutron-l3-agent-scope -i qg-[^ ]* -j MARK --set-xmark \([^ ]*\).*/\1/p' | head -n1)
    [ -n "\$mark" ] || mark=0x4000000/0xffff0000
    $ipt -t mangle -C PREROUTING -i ipsec0 -j MARK --set-xmark "\$mark" 2>/dev/null ||
      $ipt -t mangle -A PREROUTING -i ipsec0 -j MARK --set-xmark "\$mark"
    ;;
esac
exit 0
EOT
  chmod 755 "$DP/libipsec-updown.sh"
  local tpl=/usr/lib/python3/dist-packages/neutron_vpnaas/services/vpn/device_drivers/template/strongswan/ipsec.conf.template
  sed "s#^\(\s*\)leftfirewall=yes#\1leftupdown=$DP/libipsec-updown.sh#" "$tpl" >"$DP/ipsec.conf.template"
  grep -q leftupdown "$DP/ipsec.conf.template" || die "could not adapt $tpl (no leftfirewall=yes line)"
}

# /run/netns must be a shared mount of the host's mount namespace before the first agent starts. The agents run in
# mount namespaces of their own (unshare --mount-proc); the first `ip netns add` made in there would make /run/netns a
# shared bind mount only in there, and the host could not enter the routers' namespaces ("Invalid argument"). Made
# here as `ip netns add` makes it (a bind mount of the folder onto itself, then shared), so the agents' namespaces
# are peers of the host's and the qrouter-* namespaces they make appear on the host too. Left in place by down, as
# iproute2 leaves it: it is what any `ip netns add` on the host would make.
netns_shared() {
  mkdir -p /run/netns
  if ! findmnt -rn -M /run/netns >/dev/null 2>&1; then mount --bind /run/netns /run/netns; fi
  mount --make-shared /run/netns
  [ "$(findmnt -rn -M /run/netns -o PROPAGATION)" = shared ] || die "/run/netns is not a shared mount on the host: $(findmnt -rn -M /run/netns -o PROPAGATION)"
}

start_agent() { # name binary config-files...
  local name=$1 bin=$2 f args=()
  shift 2
  for f in "$@"; do args+=(--config-file "$DP/$f"); done
  VPNAAS_CLOUD_STATE=$S XDG_CACHE_HOME=$S/cache setsid unshare --pid --fork --mount-proc --propagation unchanged \
    tini -s -g -- "/usr/bin/$bin" "${args[@]}" --log-file "$DP/logs/$name.log" \
    </dev/null >>"$DP/logs/$name.out" 2>&1 8>&- 9>&- &
  echo $! >"$S/run/$name.pid"
}

up() {
  [ "$(id -u)" = 0 ] || die "the data plane needs root (network namespaces, bridges)"
  local p t0 t secs
  for p in "${DATAPLANE_PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || die "missing package $p (VPNAAS_DATAPLANE=1 scripts/cloud/up.sh installs it)"
  done
  t0=$(now)
  mkdir -p "$DP"/{state,logs,lock,rootwrap.d}
  for p in "$DP_BR_EXT" "$DP_BR_UL"; do
    ip link show "$p" >/dev/null 2>&1 || ip link add "$p" type bridge
  done
  ip addr show dev "$DP_BR_UL" | grep -qF " $DP_LOCAL_IP/32" || ip addr add "$DP_LOCAL_IP/32" dev "$DP_BR_UL"
  ip link set "$DP_BR_EXT" up; ip link set "$DP_BR_UL" up
  local before
  before=$({ cat "$DP"/*.conf "$DP"/*.ini 2>/dev/null || true; } | sha1sum)
  write_configs
  if [ "$before" != "$(cat "$DP"/*.conf "$DP"/*.ini | sha1sum)" ]; then
    for p in "${DP_AGENTS[@]}"; do stop_agent "$p"; done
  fi
  netns_shared
  t=$(now)
  [ -n "$(pid_of linuxbridge-agent)" ] || start_agent linuxbridge-agent neutron-linuxbridge-agent common.conf linuxbridge_agent.ini
  if [ -z "$(pid_of l3-agent)" ]; then
    rm -rf "$DP/state/ipsec" # see down()
    start_agent l3-agent neutron-l3-agent common.conf l3_agent.ini vpn_agent.ini
  fi
  secs=$($DPY wait-agents "$S" "$DP_HOST" 2 180) || die "agents not alive, logs in $DP/logs"
  dplog "agents of $DP_HOST alive after $secs s"
  local t_agents=$secs
  secs=$($DPY wait-routers "$S" "$DP_HOST" 300) || die "routers not ready, logs in $DP/logs"
  dplog "routers hosted (qrouter namespaces, ports ACTIVE) after $secs s more"
  local t_routers=$secs
  secs=$($DPY vms "$S" "$DP_HOST" "$DP_VM_PREFIX") || die "the VMs could not be plugged"
  dplog "VM namespaces $DP_VM_PREFIX-a, $DP_VM_PREFIX-b plugged, ports ACTIVE after $secs s"
  cat >"$DP/dataplane.env" <<EOT
HOST=$DP_HOST
BR_EXT=$DP_BR_EXT
BR_UL=$DP_BR_UL
LOCAL_IP=$DP_LOCAL_IP
VNI_RANGE=$DP_VNI_MIN:$DP_VNI_MAX
VM_PREFIX=$DP_VM_PREFIX
T_AGENTS_ALIVE=$t_agents
T_ROUTERS_READY=$t_routers
T_TOTAL=$(secs "$t0" "$(now)")
EOT
}

case ${1:-} in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
