#!/usr/bin/env bash
# make cluster-up: a one-node Kubernetes cluster inside a network namespace of its own, from binaries built from
# the Go modules of test/controlplane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy,
# kubelet, kubectl) and Debian's containerd, runc and CNI plugins. Needs root (network namespace, mounts, cgroups).
#
# The last line of stdout is the admin kubeconfig: `export KUBECONFIG=$(make -s cluster-up | tail -n1)`; it works
# with a plain kubectl on the host (the API server is reached through a veth link into the namespace; nothing
# listens on the host's own addresses). Running again reuses a running cluster.
#
# State: $VPNAAS_STATE/cluster (default .state/cluster): certificates, etcd data, kubelet/containerd roots, logs,
# pids. Inside the namespace: node 10.200.0.2, pods 10.244.0.0/24 (bridge cni0), services 10.96.0.0/24
# (kubernetes = 10.96.0.1), API server :6443; a pod reaches what runs in the namespace at the node address.
# make cluster-down (scripts/cluster/down.sh) stops it and removes everything it made.
#
# VPNAAS_CLUSTER_OWNER_PID=PID: tear the cluster down by itself once that process is gone (test suites).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
T0=$SECONDS
log() { echo "cluster-up +$((SECONDS - T0))s: $*" >&2; }
die() { echo "cluster-up: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (network namespace, mounts, cgroups for the kubelet)"
bash "$here/packages.sh" cluster
# Each tool must run, not only exist (a fresh machine's docker CLI without a daemon taught us the difference).
for c in "containerd --version" "runc --version" "nsenter --version" "iptables --version" "ip -V" "openssl version" "gcc --version" "flock --version"; do
  $c >/dev/null 2>&1 || die "'$c' fails: ${c%% *} is missing or broken (scripts/cluster/packages.sh cluster installs the Debian packages)"
done
BIN=$(bash "$cluster_root/test/controlplane/build.sh" --node | tail -n1)

mkdir -p "$S"
exec 9>"$S.lock"
flock 9

# --- Already running? (all recorded processes alive and the API server answers)
K=$S/kubectl
if [ -f "$S/state" ] && [ -x "$K" ] && "$K" get --raw /readyz >/dev/null 2>&1; then
  alive=1
  for f in "$S"/run/*.pid; do kill -0 "$(cat "$f")" 2>/dev/null || alive=0; done
  if [ $alive = 1 ]; then
    log "already running ($S)"
    echo "$S/kubeconfig"
    exit 0
  fi
fi
if [ -e "$S/state" ] || [ -e "/run/netns/$NS" ]; then
  log "cleaning up a previous cluster"
  VPNAAS_CLUSTER_LOCKED=1 bash "$here/down.sh" >&2
fi
mkdir -p "$S"/{pki,log,run,etcd,kubelet,cni/ipam,containerd,pod-logs}
echo "starting $(date -u +%FT%TZ)" >"$S/state"

# If anything below fails, take down what was started.
fail() {
  local rc=$?
  log "failed (exit $rc); last lines of the logs in $S/log:"
  for f in "$S"/log/*.log; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 8 "$f" >&2; }; done
  VPNAAS_CLUSTER_LOCKED=1 KEEP_LOGS=1 bash "$here/down.sh" >&2 || true
  exit $rc
}
trap fail ERR
trap 'exit 130' INT TERM HUP

# --- Network: the namespace, the node's NIC (a veth pair inside: no dummy driver in this kernel), and a /30 link
# to the host through which the host reaches the API server (and only it: guarded by iptables in the namespace).
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add node0 type veth peer name node0-peer
ip -n "$NS" addr add "$NODE_IP/24" dev node0
ip -n "$NS" link set node0-peer up
ip -n "$NS" link set node0 up
ip -n "$NS" route add default dev node0
octet=$((16#${hash:0:2}))
for _ in $(seq 256); do
  ip -4 -o addr show | grep -q " 10\.201\.$octet\." || ip -4 route show | grep -q "^10\.201\.$octet\." || break
  octet=$(((octet + 1) % 256))
done
HOST_IP=10.201.$octet.1 LINK_IP=10.201.$octet.2
ip link add "$HOST_LINK" type veth peer name uplink netns "$NS"
ip addr add "$HOST_IP/30" dev "$HOST_LINK"
ip link set "$HOST_LINK" up
ip -n "$NS" addr add "$LINK_IP/30" dev uplink
ip -n "$NS" link set uplink up
inns() { nsenter --net="/run/netns/$NS" "$@"; }
# From the host: the API server only. To the host: replies only (pods must not reach the host's services).
inns iptables -w -N VPNAAS-UPLINK
inns iptables -w -A VPNAAS-UPLINK -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
inns iptables -w -A VPNAAS-UPLINK -i uplink -p tcp --dport 6443 -j ACCEPT
inns iptables -w -A VPNAAS-UPLINK -j DROP
inns iptables -w -I INPUT -i uplink -j VPNAAS-UPLINK
inns iptables -w -I OUTPUT -o uplink -j VPNAAS-UPLINK
inns iptables -w -I FORWARD -o uplink -j DROP
inns iptables -w -I FORWARD -i uplink -j DROP
log "network namespace $NS (host link $HOST_LINK $HOST_IP -> $LINK_IP)"

# --- PKI: one CA, the API server's serving cert, a client cert per component, the ServiceAccount key.
P=$S/pki
cert() { # name CN O SANs(optional: makes it a serving cert as well)
  local n=$1 cn=$2 o=$3 san=${4:-}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/$n.key" \
    -subj "${o:+/O=$o}/CN=$cn" -out "$P/$n.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$san" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"
    else echo "extendedKeyUsage=clientAuth"; fi
  } >"$P/$n.ext"
  openssl x509 -req -in "$P/$n.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 30 \
    -extfile "$P/$n.ext" -out "$P/$n.crt" 2>/dev/null
  rm -f "$P/$n.csr" "$P/$n.ext"
}
kubeconfig() { # file user cert server
  local b64c b64k b64ca
  b64ca=$(base64 -w0 <"$P/ca.crt"); b64c=$(base64 -w0 <"$P/$3.crt"); b64k=$(base64 -w0 <"$P/$3.key")
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: vpnaas-cluster
    cluster: {server: "$4", certificate-authority-data: $b64ca}
users:
  - name: $2
    user: {client-certificate-data: $b64c, client-key-data: $b64k}
contexts:
  - name: vpnaas-cluster
    context: {cluster: vpnaas-cluster, user: $2}
current-context: vpnaas-cluster
EOF
  chmod 600 "$1"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" \
  -days 30 -subj /CN=vpnaas-cluster-ca -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null
cert apiserver kube-apiserver "" "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:$SVC_IP,IP:$LINK_IP"
cert kubelet-serving "system:node:$NODE" system:nodes "DNS:$NODE,IP:$NODE_IP,IP:127.0.0.1"
cert admin vpnaas-cluster-admin system:masters
cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
cert kubelet "system:node:$NODE" system:nodes
cert controller-manager system:kube-controller-manager ""
cert scheduler system:kube-scheduler ""
cert kube-proxy system:kube-proxy ""
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$P/sa.key" 2>/dev/null
openssl pkey -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
chmod 600 "$P"/*.key
inner=https://127.0.0.1:6443
for c in kubelet controller-manager scheduler kube-proxy; do kubeconfig "$P/$c.kubeconfig" "$c" "$c" "$inner"; done
kubeconfig "$P/admin-inner.kubeconfig" admin admin "$inner"
kubeconfig "$S/kubeconfig" admin admin "https://$LINK_IP:6443"
# kubectl inside the namespace (what the scripts use; from the host, plain kubectl with $S/kubeconfig works too).
cat >"$K" <<EOF
#!/bin/sh
exec nsenter --net=/run/netns/$NS "$BIN/kubectl" --kubeconfig "$P/admin-inner.kubeconfig" "\$@"
EOF
chmod +x "$K"
log "certificates made"

# --- Processes: each in the namespace, in a session of its own (it outlives this script), log in log/, pid in run/.
start() { # name cmd...
  local name=$1; shift
  setsid nsenter --net="/run/netns/$NS" "$@" </dev/null >"$S/log/$name.log" 2>&1 9>&- &
  echo $! >"$S/run/$name.pid"
}
waitfor() { # what seconds cmd...
  local what=$1 n=$2; shift 2
  local end=$((SECONDS + n))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { log "timed out after $n s waiting for $what"; return 1; }
    sleep 0.2
  done
}

start etcd "$BIN/etcd" --name=node --data-dir="$S/etcd" --listen-client-urls=http://127.0.0.1:2379 \
  --advertise-client-urls=http://127.0.0.1:2379 --listen-peer-urls=http://127.0.0.1:2380 \
  --initial-advertise-peer-urls=http://127.0.0.1:2380 --initial-cluster=node=http://127.0.0.1:2380 \
  --unsafe-no-fsync --log-level=warn
start kube-apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
  --bind-address=0.0.0.0 --secure-port=6443 --advertise-address="$NODE_IP" \
  --service-cluster-ip-range="$SVC_CIDR" --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
  --client-ca-file="$P/ca.crt" --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" \
  --kubelet-client-key="$P/apiserver-kubelet-client.key" --kubelet-preferred-address-types=InternalIP \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=false \
  --cert-dir="$P" --profiling=false
waitfor "kube-apiserver /readyz" 90 "$K" get --raw /readyz
log "kube-apiserver ready"

start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$P/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$P/controller-manager.kubeconfig" --authorization-kubeconfig="$P/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10257 --cert-dir="$S/controller-manager" --leader-elect=false \
  --use-service-account-credentials=true --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
  --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
  --service-cluster-ip-range="$SVC_CIDR" --controllers='*,-nodeipam,-cloud-node-lifecycle' --profiling=false
start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$P/scheduler.kubeconfig" \
  --authentication-kubeconfig="$P/scheduler.kubeconfig" --authorization-kubeconfig="$P/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --profiling=false

# --- Pause image (kubernetes' own pause.c, static), containerd with the CRI plugin, CNI bridge.
pause_tar=$BIN/pause.oci.tar
if [ ! -f "$pause_tar" ]; then
  pause_root=$(mktemp -d)
  cp "$BIN/pause" "$pause_root/pause"
  bash "$here/oci.sh" --rootfs "$pause_root" --ref "$PAUSE_REF" --entrypoint '["/pause"]' --user 65535:65535 \
    --out "$pause_tar.tmp" >/dev/null
  rm -rf "$pause_root"
  mv "$pause_tar.tmp" "$pause_tar"
fi
C=$S/containerd
mkdir -p "$C"/{root,state,opt,runc,cni}
cat >"$C/cni/10-vpnaas.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "vpnaas", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$S/cni/ipam", "ranges": [[{"subnet": "$POD_CIDR"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
cat >"$C/config.toml" <<EOF
version = 2
root = "$C/root"
state = "$C/state"
[grpc]
  address = "$C/containerd.sock"
[ttrpc]
  address = "$C/containerd.sock.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$C/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # No CAP_SYS_RESOURCE on these machines: the pause container's oom_score_adj -998 would be refused.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$C/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$C/cni"
EOF
start containerd containerd --config "$C/config.toml"
CTR=(ctr --address "$C/containerd.sock" -n k8s.io)
waitfor containerd 30 "${CTR[@]}" version
"${CTR[@]}" images import "$pause_tar" >/dev/null
log "containerd ready"

# --- kube-proxy (iptables mode, in the namespace only)
cat >"$S/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$P/kube-proxy.kubeconfig"}
mode: iptables
clusterCIDR: 10.244.0.0/16
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
hostnameOverride: $NODE
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
start kube-proxy "$BIN/kube-proxy" --config="$S/kube-proxy.yaml"

# --- kubelet: cgroup v1 on these machines (failCgroupV1: false), cgroupfs driver, pods under /$CGROUP.
for h in /sys/fs/cgroup/*/; do
  [ -e "${h}cgroup.procs" ] || continue
  [ "$h" = /sys/fs/cgroup/unified/ ] && continue
  mkdir -p "$h$CGROUP"
  if [ -f "${h}cpuset.cpus" ]; then cat "${h}cpuset.cpus" >"$h$CGROUP/cpuset.cpus"; cat "${h}cpuset.mems" >"$h$CGROUP/cpuset.mems"; fi
done
printf 'nameserver 127.0.0.1\n' >"$S/resolv.conf"
cat >"$S/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP
containerRuntimeEndpoint: unix://$C/containerd.sock
address: 0.0.0.0
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $P/kubelet-serving.crt
tlsPrivateKeyFile: $P/kubelet-serving.key
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $P/ca.crt}}
authorization: {mode: Webhook}
failSwapOn: false
resolvConf: $S/resolv.conf
clusterDomain: cluster.local
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
serializeImagePulls: false
podLogsDir: $S/pod-logs
EOF
start kubelet "$BIN/kubelet" --config="$S/kubelet.yaml" --kubeconfig="$P/kubelet.kubeconfig" \
  --root-dir="$S/kubelet" --node-ip="$NODE_IP" --hostname-override="$NODE"
node_ready() { "$K" get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
waitfor "node $NODE Ready" 120 node_ready
# Pods can be created once the ServiceAccount admission finds the namespace's `default` ServiceAccount.
waitfor "ServiceAccount default/default" 60 "$K" -n default get serviceaccount default
log "node $NODE Ready"

# A watchdog for test suites: down.sh once the owner process is gone.
if [ -n "${VPNAAS_CLUSTER_OWNER_PID:-}" ]; then
  owner=$VPNAAS_CLUSTER_OWNER_PID
  setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -e "$2/state" ]; do sleep 1; done; [ -e "$2/state" ] && bash "$3/down.sh"' \
    watchdog "$owner" "$S" "$here" </dev/null >"$S/log/watchdog.log" 2>&1 9>&- &
  echo $! >"$S/watchdog.pid"
fi

trap - ERR INT TERM HUP
cat >"$S/state" <<EOF
netns=$NS
host_link=$HOST_LINK
host_ip=$HOST_IP
api=https://$LINK_IP:6443
node_ip=$NODE_IP
bin=$BIN
containerd=$C/containerd.sock
started=$(date -u +%FT%TZ)
startup_s=$((SECONDS - T0))
EOF
log "up in $((SECONDS - T0)) s: kubectl --kubeconfig $S/kubeconfig get nodes (API server https://$LINK_IP:6443)"
echo "$S/kubeconfig"
