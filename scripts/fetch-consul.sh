#!/usr/bin/env bash
# Prints the path of a Consul binary for the tests and the benches, fetching it
# first when it is not cached. Debian 12 and 13 no longer ship Consul; Debian
# 11's package (1.8.7, a static Go binary) is still in the archive this
# machine's apt reaches, and runs here as it is. It is fetched by package name
# with a source list of its own, unpacked with dpkg -x into the cache, and
# never installed: the machine's own apt state is left alone.
# Usage: scripts/fetch-consul.sh   (prints the binary's path; exit 1 with the reason)
set -euo pipefail
CACHE=${SIGNAL_SIDECAR_TEST_CACHE:-/var/cache/signal-sidecar-test}/consul-bullseye
binary="$CACHE/x/usr/bin/consul"
if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
command -v apt-get >/dev/null || { echo "no apt-get on this machine: cannot fetch consul" >&2; exit 1; }
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || { echo "no $keyring: cannot verify Debian 11's archive" >&2; exit 1; }
# The mirror this machine's apt uses (deb822 sources, or a one-line list).
mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | head -1 | awk '{print $2}')
if [ -z "$mirror" ]; then
  mirror=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | grep -v security | head -1 | awk '{print $2}')
fi
[ -n "$mirror" ] || { echo "cannot tell which Debian mirror apt uses" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/consul-fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial"
echo "deb [signed-by=$keyring] $mirror bullseye main" >"$work/sources.list"
apt_options=(
  -o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
  -o Debug::NoLocking=1 -o APT::Sandbox::User=root
)
apt-get "${apt_options[@]}" update -qq >"$work/update.log" 2>&1 || { cat "$work/update.log" >&2; echo "apt-get update of bullseye failed" >&2; exit 1; }
(cd "$work" && apt-get "${apt_options[@]}" download consul >"$work/download.log" 2>&1) || { cat "$work/download.log" >&2; echo "apt-get download consul failed" >&2; exit 1; }
mkdir -p "$CACHE"
rm -rf "$CACHE/x"
dpkg -x "$work"/consul_*.deb "$CACHE/x"
"$binary" version >/dev/null
echo "$binary"
