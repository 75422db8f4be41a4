#!/usr/bin/env bash
# Runs the end-to-end suite against the real components from Debian 12's
# packages. As root, whatever is missing is installed first; as anyone else
# nothing is installed and each test that needs a missing component is
# reported as skipped, with the reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
# haproxy is in /usr/sbin, which a non-root PATH often lacks.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# command -> Debian package providing it
declare -A provider=(
  [haproxy]=haproxy
  [prometheus]=prometheus
  [promtool]=prometheus
  [prosody]=prosody
  [prosodyctl]=prosody
)
missing=()
for command in "${!provider[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${provider[$command]}")
done
# prosody 0.12 resolves DNS through lua-unbound, which is only a recommended
# package and so is not pulled in by --no-install-recommends.
if ! dpkg-query -W -f='${Status}' lua-unbound 2>/dev/null | grep -q 'ok installed'; then
  missing+=(lua-unbound)
fi

if [ ${#missing[@]} -gt 0 ]; then
  read -r -a packages <<<"$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "e2e setup: installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The packages' own services would listen on all interfaces (prometheus on
    # :9090): keep them from starting, as container images do, unless the
    # machine already has a policy.
    own_policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod +x /usr/sbin/policy-rc.d
      own_policy=yes
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    # Another apt run on the machine holds the lock for a while: wait for it.
    install=(apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "${packages[@]}")
    # A fresh machine may have no package lists, or stale ones.
    "${install[@]}" >/dev/null 2>&1 || { apt-get update -qq -o DPkg::Lock::Timeout=300 && "${install[@]}" >/dev/null; }
    if [ -n "$own_policy" ]; then
      rm -f /usr/sbin/policy-rc.d
      trap - EXIT
    fi
  else
    echo "e2e setup: not installed: ${packages[*]}; not root, so the tests that need them are skipped"
  fi
fi

exec node --import tsx --test --test-concurrency=1 --test-reporter=spec test/e2e/*.test.ts
