import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SourceName } from './decision/samples';

/** Metric names are the original's (dashboards depend on them) plus per-source probe metrics. */
export interface SidecarMetrics {
  readonly registry: Registry;
  readonly health: Gauge;
  readonly census: Gauge;
  readonly sumSquared: Gauge;
  readonly healthChecks: Counter;
  readonly unhealthyChecks: Counter;
  readonly unhealthyTransitions: Counter;
  /** jicofo's participant count; NaN while unknown, so alert comparisons stay false. */
  readonly participants: Gauge;
  readonly participantMax: Gauge;
  /** Records one finished HTTP request; `uri` must already be a known route. */
  observeRequest(method: string, uri: string, code: number, seconds: number): void;
  requestStarted(): void;
  requestFinished(): void;
  recordProbe(source: SourceName, success: boolean, seconds: number): void;
  countNotification(outcome: 'delivered' | 'failed' | 'dropped'): void;
}

/** Methods outside this set share one label value, so the label set cannot grow. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

const SOURCE_LABELS: Readonly<Record<SourceName, string>> = {
  jicofoHealth: 'jicofo_health',
  jicofoStats: 'jicofo_stats',
  prosody: 'prosody',
  census: 'census',
  statusFile: 'status_file',
};

export function createMetrics(): SidecarMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const health = new Gauge({ name: 'signal_health', help: 'Signal node reported healthy (1) or not (0)', registers: [registry] });
  const census = new Gauge({ name: 'signal_census', help: 'Last census poll succeeded (1) or not (0)', registers: [registry] });
  const sumSquared = new Gauge({
    name: 'prosody_participant_sum_squared',
    help: 'Sum over rooms of participants squared, from the prosody census',
    registers: [registry],
  });
  const healthChecks = new Counter({
    name: 'signal_health_check',
    help: 'Health checks answered, over HTTP and the HAProxy agent',
    registers: [registry],
  });
  const unhealthyChecks = new Counter({
    name: 'signal_unhealthy_check',
    help: 'Health checks answered unhealthy',
    registers: [registry],
  });
  const unhealthyTransitions = new Counter({
    name: 'signal_unhealthy_total',
    help: 'Transitions of the reported health from healthy to unhealthy',
    registers: [registry],
  });
  // Not in the original: the participants-near-PARTICIPANT_MAX alert needs both sides.
  const participants = new Gauge({
    name: 'signal_participants',
    help: 'Participants jicofo reports on this node; NaN while jicofo is not healthy',
    registers: [registry],
  });
  participants.set(Number.NaN);
  const participantMax = new Gauge({
    name: 'signal_participant_max',
    help: 'PARTICIPANT_MAX: participants above this drain the node',
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: 'http_server_requests_in_flight',
    help: 'HTTP requests being served',
    registers: [registry],
  });
  const requests = new Counter({
    name: 'http_server_requests_total',
    help: 'HTTP requests served, by method, status code and route',
    labelNames: ['method', 'code', 'uri'],
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'http_server_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method and route',
    labelNames: ['method', 'uri'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const probeSuccess = new Gauge({
    name: 'signal_probe_success',
    help: 'Whether the last probe of a source completed with a usable answer (1) or not (0)',
    labelNames: ['source'],
    registers: [registry],
  });
  const probeDuration = new Gauge({
    name: 'signal_probe_duration_seconds',
    help: 'How long the last probe of a source took, in seconds',
    labelNames: ['source'],
    registers: [registry],
  });

  const probeRoundTrip = new Histogram({
    name: 'signal_probe_round_trip_seconds',
    help: 'Round-trip time of probes, by source, in seconds',
    labelNames: ['source'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const notifications = new Counter({
    name: 'signal_notifications_total',
    help: 'State-change notifications to NOTIFY_URL receivers, by outcome (delivered, failed, dropped)',
    labelNames: ['outcome'],
    registers: [registry],
  });

  // Label children are looked up once per label combination, not per request.
  const requestChildren = new Map<string, { count: Counter.Internal; time: Histogram.Internal<'method' | 'uri'> }>();

  return {
    registry,
    health,
    census,
    sumSquared,
    healthChecks,
    unhealthyChecks,
    unhealthyTransitions,
    participants,
    participantMax,
    observeRequest(method, uri, code, seconds) {
      const methodLabel = KNOWN_METHODS.has(method) ? method : 'OTHER';
      const key = `${methodLabel} ${code} ${uri}`;
      let children = requestChildren.get(key);
      if (children === undefined) {
        children = {
          count: requests.labels({ method: methodLabel, code: String(code), uri }),
          time: durations.labels({ method: methodLabel, uri }),
        };
        requestChildren.set(key, children);
      }
      children.count.inc();
      children.time.observe(seconds);
    },
    requestStarted: () => inFlight.inc(),
    requestFinished: () => inFlight.dec(),
    recordProbe(source, success, seconds) {
      const label = { source: SOURCE_LABELS[source] };
      probeSuccess.set(label, success ? 1 : 0);
      probeDuration.set(label, seconds);
      probeRoundTrip.observe(label, seconds);
    },
    countNotification: (outcome) => notifications.inc({ outcome }),
  };
}
