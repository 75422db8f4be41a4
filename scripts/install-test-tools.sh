#!/usr/bin/env bash
# Installs Debian packages that some tests need (promtool, dpkg-buildpackage,
# lintian, ...) when they are missing. The tests call it and skip, with the
# reason it printed, when it fails; CI machines start clean, so the project
# installs its own tools rather than relying on what a machine happens to have.
# Usage: scripts/install-test-tools.sh PACKAGE...
set -euo pipefail
if [ "$#" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "not root: cannot install $*" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "no apt-get on this machine: cannot install $*" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
install() {
  apt-get install -y -q --no-install-recommends "$@" >/dev/null
}
# A machine with a fresh or stale package list needs one update; try without first.
if ! install "$@" 2>/dev/null; then
  apt-get update -q >/dev/null
  install "$@"
fi
