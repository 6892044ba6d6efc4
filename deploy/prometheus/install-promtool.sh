#!/usr/bin/env bash
# Make sure promtool (Debian's prometheus package) is on PATH: the tests check the scrape
# configs and alert rules with it. Installs the package when missing and this is a Debian-like
# machine run as root; otherwise says what to install.
set -euo pipefail
command -v promtool >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "install-promtool: installing Debian's prometheus package (promtool)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -q --no-install-recommends prometheus >/dev/null; }
  apt_install || { apt-get update -q >/dev/null && apt_install; } \
    || { echo "install-promtool: apt-get could not install prometheus" >&2; exit 1; }
  command -v promtool >/dev/null && exit 0
fi
echo "install-promtool: promtool is missing; install the prometheus package (it ships promtool)" >&2
exit 1
