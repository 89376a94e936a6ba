# Shared by scripts/cluster/*.sh (sourced): where a cluster's state lives and what its names are.
#
# One cluster per state folder ($VPNAAS_STATE/cluster, default .state/cluster of the checkout). Its network
# namespace and the host end of its link are named after a hash of that folder, so that two checkouts on one
# machine get two clusters that do not meet.
cluster_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cluster_state=${VPNAAS_STATE:-$cluster_root/.state}
mkdir -p "$cluster_state"
cluster_state=$(cd "$cluster_state" && pwd)
S=$cluster_state/cluster
hash=$(printf '%s' "$S" | sha256sum | cut -c1-8)
NS=vpnaas-$hash            # network namespace (/run/netns/$NS)
HOST_LINK=vk$hash          # host end of the veth to the namespace (the API server is reached through it)
CGROUP=vpnaas-$hash        # cgroup root of the pods in every v1 hierarchy
NODE=vpnaas-node
NODE_IP=10.200.0.2         # the node's address (inside the namespace only)
POD_CIDR=10.244.0.0/24
SVC_CIDR=10.96.0.0/24
SVC_IP=10.96.0.1
PAUSE_REF=localhost/vpnaas/pause:3.10
