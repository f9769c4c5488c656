#!/usr/bin/env bash
# Builds the dkd image without pulling a base image, for machines that cannot reach a
# container registry: an image FROM scratch holding dkd and dk, the shared libraries they
# link (glibc, libgcc, libm and the loader, taken from this machine), the CA certificates,
# a passwd/group naming the non-root user 65532, and an empty /var/lib/datakit (DK_HOME) and
# /tmp it may write. Same layout and settings as deploy/Dockerfile (user 65532, ports 8443
# 9443 8081, ENTRYPOINT dkd); the libraries are this machine's instead of distroless's, so
# build on a system as old as the clusters' nodes can run (Debian 12 here).
#
#   deploy/build-image-offline.sh [--binaries DIR] [--tag NAME]
#
# --binaries DIR  take dkd and dk from DIR instead of `cargo build --release --locked`
# --tag NAME      the image's name (default localhost/datakit/dkd:offline)
#
# Needs buildah, run as root (or rootless buildah set up for this user). Prints the image id.
set -euo pipefail
cd "$(dirname "$0")/.."

binaries=""
tag="localhost/datakit/dkd:offline"
while [ $# -gt 0 ]; do
  case "$1" in
    --binaries) binaries="${2:?--binaries needs a folder}"; shift 2 ;;
    --tag) tag="${2:?--tag needs a name}"; shift 2 ;;
    *) echo "build-image-offline.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done

command -v buildah >/dev/null 2>&1 ||
  { echo "build-image-offline.sh: buildah is not installed: apt-get install -y buildah" >&2; exit 1; }
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -r "$ca_bundle" ] ||
  { echo "build-image-offline.sh: $ca_bundle is missing: apt-get install -y ca-certificates" >&2; exit 1; }

if [ -z "$binaries" ]; then
  cargo build --release --locked -p dkd -p dk >&2
  binaries=target/release
fi
for program in dkd dk; do
  [ -x "$binaries/$program" ] ||
    { echo "build-image-offline.sh: $binaries/$program is not an executable" >&2; exit 1; }
done

# The root file system, assembled in a temporary folder and copied into the image as one layer.
rootfs=$(mktemp -d)
container=""
cleanup() {
  [ -n "$container" ] && buildah rm "$container" >/dev/null 2>&1
  rm -rf "$rootfs"
}
trap cleanup EXIT

install -D -m 0755 "$binaries/dkd" "$rootfs/usr/local/bin/dkd"
install -D -m 0755 "$binaries/dk" "$rootfs/usr/local/bin/dk"
# Every shared library either binary loads, and the dynamic loader, at the paths ldd names
# (the file behind each symlink, copied under the symlink's name).
libraries=$(for program in dkd dk; do ldd "$binaries/$program"; done |
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
for library in $libraries; do
  install -D -m 0755 "$(readlink -f "$library")" "$rootfs$library"
done
install -D -m 0644 "$ca_bundle" "$rootfs$ca_bundle"
mkdir -p "$rootfs/etc"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/var/lib/datakit:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
mkdir -p "$rootfs/var/lib/datakit" "$rootfs/tmp"

container=$(buildah from scratch)
buildah copy --quiet "$container" "$rootfs" / >/dev/null
# buildah copy makes everything root's: give DK_HOME to the user, /tmp to everyone.
mounted=$(buildah mount "$container")
chown 65532:65532 "$mounted/var/lib/datakit"
chmod 0700 "$mounted/var/lib/datakit"
chmod 1777 "$mounted/tmp"
buildah umount "$container" >/dev/null
buildah config \
  --user 65532:65532 \
  --env HOME=/var/lib/datakit \
  --port 8443 --port 9443 --port 8081 \
  --entrypoint '["/usr/local/bin/dkd"]' \
  --cmd '--home /var/lib/datakit --config /etc/datakit/dkd.yaml' \
  --label org.opencontainers.image.title=dkd \
  --label org.opencontainers.image.source=https://github.com/infoblox-cto/datakit-promotion \
  "$container"
buildah commit --quiet --rm "$container" "$tag"
container=""
