#!/usr/bin/env bash
# Build the streamrec image with podman (docker takes the same flags: PODMAN=docker).
#
#   deploy/docker/build.sh --bundle DIR [--tag TAG] [--extras serve|train] [--base IMAGE]
#                          [--host-pip]
#
#   --bundle DIR   the model bundle the worker serves until the models topic announces one
#   --tag TAG      image name (default streamrec-worker:0.1.0, or streamrec-trainer:0.1.0)
#   --extras E     serve (the worker, no torch; default) or train (the trainer)
#   --base IMAGE   a Debian-like image with python3 and venv (default: the Dockerfile's,
#                  python:3.11-slim; localhost/streamrec-base:bookworm from debian-base.sh
#                  where no container registry is reachable)
#   --host-pip     build on the host network with this host's pip configuration and CA
#                  certificates (a machine that reaches PyPI through a re-signing proxy)
set -euo pipefail
cd "$(dirname "$0")/../.."
podman=${PODMAN:-podman}
bundle="" tag="" extras=serve base="" host_pip=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --extras) extras=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --host-pip) host_pip=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$bundle" ] || [ ! -f "$bundle/manifest.json" ]; then
  echo "build.sh: --bundle must name a model bundle (a folder with manifest.json)" >&2
  exit 2
fi
case "$extras" in
  serve) tag=${tag:-streamrec-worker:0.1.0} ;;
  train) tag=${tag:-streamrec-trainer:0.1.0} ;;
  *) echo "build.sh: --extras is serve or train, not $extras" >&2; exit 2 ;;
esac
args=(build -f deploy/docker/Dockerfile --build-context "bundle=$bundle"
      --build-arg "EXTRAS=$extras" -t "$tag")
[ -n "$base" ] && args+=(--build-arg "BASE=$base")
if [ "$host_pip" = 1 ]; then
  args+=(--network host -v /etc/ssl/certs:/etc/ssl/certs:ro)
  [ -f /etc/pip.conf ] && args+=(-v /etc/pip.conf:/etc/pip.conf:ro)
fi
exec $podman "${args[@]}" .
