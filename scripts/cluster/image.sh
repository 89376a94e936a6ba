#!/usr/bin/env bash
# make image: builds the Dockerfile into IMAGE (default localhost/vpnaas-operator:dev) with buildah (no daemon;
# installed from Debian's packages when missing and run as root) or, as a non-root user without buildah, with a
# docker whose daemon answers. VPNAAS_IMAGE_BUILDER=buildah|docker forces one.
#
# buildah: the base images are the local stand-ins of scripts/cluster/base-images.sh (no image registry needed),
# passed as the Dockerfile's BUILD_IMAGE / RUNTIME_IMAGE build arguments; VPNAAS_PRODUCTION_BASES=1 uses the
# Dockerfile's defaults (the production images, pulled from their registries) instead. docker: the defaults.
# Writes a docker-archive to $VPNAAS_STATE/image/vpnaas-operator.tar, prints the image's size and how long the image
# takes to start the operator (`node dist/main.js --help`, as the container's entrypoint runs it), and imports it into
# the containerd of a running `make cluster-up`. The last line of stdout is the archive's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
IMAGE=${IMAGE:-localhost/vpnaas-operator:dev}
out=$cluster_state/image
archive=$out/vpnaas-operator.tar
T0=$SECONDS
log() { echo "image +$((SECONDS - T0))s: $*" >&2; }
die() { echo "image: $*" >&2; exit 1; }
mkdir -p "$out"
exec 9>"$out.lock"
flock 9

# A builder is chosen because it works, not because its command exists: a docker CLI without a daemon (a fresh
# machine of this project's kind, many laptops) answers nothing, so `docker info` must succeed. buildah (no daemon)
# is preferred and, as root, installed from Debian's packages when missing or broken.
buildah_works() { command -v buildah >/dev/null && buildah --version >/dev/null 2>&1; }
docker_works() { command -v docker >/dev/null && timeout 15 docker info >/dev/null 2>&1; }
builder=${VPNAAS_IMAGE_BUILDER:-}
if [ -z "$builder" ]; then
  if buildah_works; then builder=buildah
  elif [ "$(id -u)" = 0 ]; then bash "$here/packages.sh" image; builder=buildah
  elif docker_works; then builder=docker
  elif command -v docker >/dev/null; then
    die "docker is installed but no daemon answers ('docker info' fails) and buildah is missing: run as root (make image installs buildah from Debian's packages) or start the docker daemon"
  else die "no image builder: run as root (make image installs buildah from Debian's packages) or install docker"; fi
fi
case $builder in
  buildah) ;;
  docker) docker_works || die "VPNAAS_IMAGE_BUILDER=docker, but no docker daemon answers ('docker info' fails)" ;;
esac

case $builder in
  buildah)
    [ "$(id -u)" = 0 ] || die "buildah here runs as root (its storage is under $out)"
    bash "$here/packages.sh" image
    buildah_works || die "buildah does not run ('buildah --version' fails) after the install"
    # Storage of its own under the state folder, removed afterwards (no daemon, nothing left running or mounted).
    BH=(buildah --root "$out/buildah/root" --runroot "$out/buildah/run" --storage-driver overlay)
    cleanup() {
      "${BH[@]}" rm -a >/dev/null 2>&1 || true
      "${BH[@]}" rmi -a -f >/dev/null 2>&1 || true
      for _ in 1 2 3; do
        awk -v s="$out/buildah/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r |
          while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
      done
      rm -rf "$out/buildah"
    }
    trap cleanup EXIT
    args=()
    if [ "${VPNAAS_PRODUCTION_BASES:-0}" != 1 ]; then
      eval "$(bash "$here/base-images.sh" | grep -E '^(BUILD|RUNTIME)_IMAGE=')"
      "${BH[@]}" pull -q "oci-archive:$BUILD_IMAGE" >/dev/null
      "${BH[@]}" pull -q "oci-archive:$RUNTIME_IMAGE" >/dev/null
      args=(--pull=never --build-arg BUILD_IMAGE=localhost/vpnaas/node:24-bookworm-slim-standin
        --build-arg RUNTIME_IMAGE=localhost/vpnaas/distroless-nodejs24:nonroot-standin)
      log "base images: local stand-ins (scripts/cluster/base-images.sh)"
    fi
    t=$SECONDS
    (cd "$cluster_root" && nice -n 10 "${BH[@]}" bud "${args[@]}" --network host --layers=false -t "$IMAGE" . \
      >"$out/build.log" 2>&1) || { tail -n 30 "$out/build.log" >&2; die "build failed (log: $out/build.log)"; }
    log "built $IMAGE in $((SECONDS - t)) s (log: $out/build.log)"
    size=$("${BH[@]}" images --format '{{.Size}}' "$IMAGE" | head -n1)
    rm -f "$archive"
    "${BH[@]}" push -q "$IMAGE" "docker-archive:$archive:$IMAGE" >/dev/null
    # Start time: the image's own entrypoint, as a container (buildah run: runc, read-only is not asked here).
    ctr_id=$("${BH[@]}" from -q --pull=never "$IMAGE")
    t1=$(date +%s%N)
    "${BH[@]}" run --network none "$ctr_id" -- /nodejs/bin/node /app/dist/main.js --help >/dev/null 2>"$out/start.log" ||
      { cat "$out/start.log" >&2; die "the image does not start"; }
    start_ms=$((($(date +%s%N) - t1) / 1000000))
    ;;
  docker)
    t=$SECONDS
    (cd "$cluster_root" && DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} docker build --network host -t "$IMAGE" . >"$out/build.log" 2>&1) ||
      { tail -n 30 "$out/build.log" >&2; die "build failed (log: $out/build.log)"; }
    log "built $IMAGE in $((SECONDS - t)) s (docker; log: $out/build.log)"
    size=$(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')
    docker save -o "$archive" "$IMAGE"
    t1=$(date +%s%N)
    docker run --rm --read-only --cap-drop ALL --network none "$IMAGE" --help >/dev/null
    start_ms=$((($(date +%s%N) - t1) / 1000000))
    ;;
  *) die "VPNAAS_IMAGE_BUILDER must be buildah or docker" ;;
esac
log "image $IMAGE: size $size (archive $(du -m "$archive" | cut -f1) MB), start to --help done in $start_ms ms"
echo "size=$size start_ms=$start_ms" >"$out/figures"

# Into the cluster's containerd, when one runs.
sock=$S/containerd/containerd.sock
if [ -S "$sock" ] && ctr --address "$sock" version >/dev/null 2>&1; then
  ctr --address "$sock" -n k8s.io images import "$archive" >/dev/null
  log "imported into the cluster's containerd ($sock)"
fi
echo "$archive"
