#!/usr/bin/env bash
# Make this machine build and run the image with podman (the image test uses it):
#  1. install podman, runc and debootstrap (Debian packages) when missing, as root with apt;
#  2. build the Debian base image if it is missing (deploy/docker/debian-base.sh);
#  3. run one container; if the default runtime cannot start it (a VM without
#     CAP_SYS_RESOURCE cannot raise rlimits; crun refuses a cgroup v1/v2 hybrid), write a
#     containers.conf drop-in that uses runc and rlimits below this machine's hard limits.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=localhost/streamrec-base:bookworm
need=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install-podman: missing ${need[*]}; install them (Debian packages of the same names)" >&2
    exit 1
  fi
  echo "install-podman: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
  apt_install || { apt-get update -q >/dev/null && apt_install; } \
    || { echo "install-podman: apt-get could not install ${need[*]}" >&2; exit 1; }
fi
"$here/debian-base.sh" "$base"
probe() { podman run --rm "$base" python3 -c 'pass' 2>&1; }
if out=$(probe); then exit 0; fi
echo "install-podman: a container did not start: $out" >&2
nofile=$(( $(ulimit -Hn) < 16384 ? $(ulimit -Hn) : 16384 ))
nproc=$(( $(ulimit -Hu) <= 8192 ? $(ulimit -Hu) - 1 : 8192 ))
mkdir -p /etc/containers/containers.conf.d
cat >/etc/containers/containers.conf.d/50-streamrec.conf <<CONF
# Written by streamrec's deploy/docker/install-podman.sh: the default runtime could not start
# a container here ($out).
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
CONF
if out=$(probe); then
  echo "install-podman: containers start with runc and lower rlimits (containers.conf.d)" >&2
  exit 0
fi
echo "install-podman: containers still do not start: $out" >&2
exit 1
