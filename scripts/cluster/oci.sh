#!/usr/bin/env bash
# Packs a folder into a one-layer OCI image archive (an oci-layout tar) that `ctr images import` and
# `buildah pull oci-archive:FILE` read. No registry, no daemon. Same folder, same digest (sorted entries, mtime 0).
#   oci.sh --rootfs DIR --ref NAME:TAG --out FILE.tar [--entrypoint JSON] [--cmd JSON] [--user UID:GID]
#          [--workdir DIR] [--env K=V]... [--owner UID:GID | --keep-owners]
# Owners are forced to --owner (default 0:0) unless --keep-owners. Prints the manifest digest.
set -euo pipefail
rootfs="" ref="" out="" entrypoint="" cmd="" user="" workdir="" owner=0:0 keep=0 envs=()
while [ $# -gt 0 ]; do
  case $1 in
    --rootfs) rootfs=$2; shift 2 ;;
    --ref) ref=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --entrypoint) entrypoint=$2; shift 2 ;;
    --cmd) cmd=$2; shift 2 ;;
    --user) user=$2; shift 2 ;;
    --workdir) workdir=$2; shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    --owner) owner=$2; shift 2 ;;
    --keep-owners) keep=1; shift ;;
    *) echo "oci.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -d "$rootfs" ] && [ -n "$ref" ] && [ -n "$out" ] || { echo "oci.sh: --rootfs DIR --ref REF --out FILE are required" >&2; exit 2; }
case ${ref##*/} in *:*) tag=${ref##*:} ;; *) tag=latest ;; esac

w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mkdir -p "$w/blobs/sha256"
owners=(--owner="${owner%%:*}" --group="${owner##*:}")
[ $keep = 1 ] && owners=()
tar -C "$rootfs" --sort=name --mtime=@0 --numeric-owner "${owners[@]}" --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -cf "$w/layer.tar" .
diff_id=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
gzip -1 -n <"$w/layer.tar" >"$w/layer.tar.gz"
layer=$(sha256sum "$w/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$w/layer.tar.gz")
mv "$w/layer.tar.gz" "$w/blobs/sha256/$layer"

json_str() { # a JSON string of $1
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}
  printf '"%s"' "$s"
}
env_json=$(json_str "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
for e in "${envs[@]}"; do env_json="$env_json,$(json_str "$e")"; done
cfg="\"Env\":[$env_json]"
[ -z "$entrypoint" ] || cfg="$cfg,\"Entrypoint\":$entrypoint"
[ -z "$cmd" ] || cfg="$cfg,\"Cmd\":$cmd"
[ -z "$user" ] || cfg="$cfg,\"User\":$(json_str "$user")"
[ -z "$workdir" ] || cfg="$cfg,\"WorkingDir\":$(json_str "$workdir")"
printf '{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/cluster/oci.sh"}]}' \
  "$cfg" "$diff_id" >"$w/config.json"
config=$(sha256sum "$w/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$w/config.json")
mv "$w/config.json" "$w/blobs/sha256/$config"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
  "$config" "$config_size" "$layer" "$layer_size" >"$w/manifest.json"
manifest=$(sha256sum "$w/manifest.json" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$w/manifest.json")
mv "$w/manifest.json" "$w/blobs/sha256/$manifest"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"io.containerd.image.name":%s,"org.opencontainers.image.ref.name":%s}}]}' \
  "$manifest" "$manifest_size" "$(json_str "$ref")" "$(json_str "$tag")" >"$w/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
rm -f "$w/layer.tar"
tar -C "$w" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$out" oci-layout index.json blobs
echo "sha256:$manifest"
