# signal-sidecar as a container image, to run beside one Jitsi signal node.
#
#   docker build -t signal-sidecar .
#   podman build --format docker -t signal-sidecar .   (the OCI format drops HEALTHCHECK)
#
# Both stages are Debian 13 with the distribution's own Node.js (20.19), the
# Node the Debian package runs on there. Building needs Debian's archive and
# the npm registry; running needs nothing but jicofo and prosody to ask.
# README.md, "Running it as a container", says how to run it.

FROM debian:trixie-slim AS build
# Behind a TLS-inspecting proxy, npm needs that proxy's CA: mount a bundle
# into the build (podman build -v FILE:PATH:ro) and pass
# --build-arg NODE_EXTRA_CA_CERTS=PATH. An argument of this stage only: it
# never reaches the image.
ARG NODE_EXTRA_CA_CERTS
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# The production modules, staged as the Debian package stages them
# (scripts/stage-modules.sh): apart from the dev tools in /src/node_modules.
COPY scripts/stage-modules.sh ./scripts/
RUN sh scripts/stage-modules.sh /stage && mkdir -p /stage/dist
COPY tsconfig.json ./
COPY src ./src
COPY container ./container
RUN npm run build \
 && cp dist/app.js /stage/dist/ \
 && npx esbuild container/healthcheck.ts --bundle --platform=node --target=node18 \
      --outfile=/stage/dist/healthcheck.js --log-level=warning

FROM debian:trixie-slim
# ca-certificates: NOTIFY_URL may be https.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 signal-sidecar \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin signal-sidecar \
 && mkdir -p /etc/jitsi /var/lib/signal-sidecar \
 && echo drain > /var/lib/signal-sidecar/shard-status \
 && chown -R 10001:10001 /var/lib/signal-sidecar \
 && ln -s /var/lib/signal-sidecar/shard-status /etc/jitsi/shard-status
# The status word lives in the state directory, the one place the daemon
# writes: with CONSUL_STATUS it keeps each Consul word there (through the link
# /etc/jitsi/shard-status), so the word outlives a restart while Consul is
# away. A volume there (a new one starts with the image's drain) keeps it
# under a read-only root; without a writable place the daemon logs once that
# it cannot keep the word, and the word still applies.
VOLUME /var/lib/signal-sidecar
# What the daemon needs and nothing else: the bundle, its production modules,
# package.json (for --version), the health check, the entry point and the
# operator's command (`docker exec NAME signal-sidecar status`).
COPY --from=build /stage /usr/share/signal-sidecar
COPY container/run.sh /usr/share/signal-sidecar/run.sh
COPY debian/bin/signal-sidecar /usr/bin/signal-sidecar
# As the systemd unit: one malloc arena keeps memory small after a burst.
ENV MALLOC_ARENA_MAX=1
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /usr/share/signal-sidecar
# 6000: health checks, report, metrics. 6060: the HAProxy agent.
EXPOSE 6000 6060
STOPSIGNAL SIGTERM
# Liveness (the daemon answers). Readiness, whether the node should take new
# conferences, is GET /signal/health: that is the load balancer's question.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/bin/node", "/usr/share/signal-sidecar/dist/healthcheck.js"]
ENTRYPOINT ["/usr/share/signal-sidecar/run.sh"]
