#!/bin/sh
# The image's entry point. As in the original image, an operator's hook at
# /usr/jitsi/pre-run.sh is sourced first (it may export variables for the
# daemon); then node replaces this shell, so the daemon is PID 1 and gets
# `docker stop`'s SIGTERM itself. Node's flags are the systemd unit's
# (debian/signal-sidecar.service); MALLOC_ARENA_MAX comes from the image's ENV.
# Arguments go to the daemon: `docker run IMAGE --help`, `... status`.
HOOK=/usr/jitsi/pre-run.sh
# A volume that starts empty at the state directory (a Kubernetes emptyDir,
# a bind-mounted directory) gets the image's word: a new node starts drained.
STATE=/var/lib/signal-sidecar/shard-status
if [ ! -e "$STATE" ] && [ -w "${STATE%/*}" ]; then
  echo drain > "$STATE"
fi
if [ -f "$HOOK" ]; then
  . "$HOOK"
fi
exec /usr/bin/node --max-semi-space-size=2 --expose-gc /usr/share/signal-sidecar/dist/app.js "$@"
