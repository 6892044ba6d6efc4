#!/usr/bin/env bash
# Build a base image for deploy/docker/Dockerfile from Debian's packages, for machines that
# reach a Debian mirror but no container registry: debootstrap a minimal bookworm (its
# python3 is 3.11) with python3-venv and CA certificates, then import it into podman.
#
#   deploy/docker/debian-base.sh [TAG]      (default localhost/streamrec-base:bookworm)
#
# The mirror is the one this machine's apt uses. Needs root, debootstrap and podman. Does
# nothing when the image exists already.
set -euo pipefail
tag=${1:-localhost/streamrec-base:bookworm}
if podman image exists "$tag"; then
  echo "debian-base: $tag exists" >&2
  exit 0
fi
# Either file may be missing (deb822 sources only, or a classic sources.list only): a grep
# that finds no file must not end the script under pipefail.
mirror=$(
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources || true
    grep -hs '^deb ' /etc/apt/sources.list || true; } \
    | awk '{print $2}' | { grep -v security || true; } | head -1
)
if [ -z "$mirror" ]; then
  echo "debian-base: no Debian mirror in this machine's apt sources" >&2
  exit 1
fi
root=$(mktemp -d /tmp/streamrec-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debian-base: debootstrap bookworm into $root (a few minutes)" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; echo "debian-base: debootstrap failed" >&2; exit 1; }
rm -f "$root.log"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | podman import --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "debian-base: built $tag" >&2
