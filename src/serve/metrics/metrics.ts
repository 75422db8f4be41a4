import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricType } from 'prom-client';
import type { Report } from '../../decide/report';
import type { SourceName } from '../../decide/samples';
import { registerConsulMetrics, type ConsulMetrics } from './consul-metrics';
import { LOOP_DELAY_METRICS, registerLoopDelay } from './loop-delay';
import { renderMetrics } from './metrics-text';

/** Metric names are the original's (dashboards depend on them) plus per-source probe metrics. */
export interface SidecarMetrics {
  readonly registry: Registry;
  /** The /metrics page: the registry in Prometheus text format. */
  render(): Promise<string>;
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
  countWatchEvent(upstream: 'jicofo' | 'prosody', event: 'connected' | 'closed' | 'failed'): void;
  /** A reload was applied (true) or refused (false), at `seconds` since the epoch. */
  configReloaded(applied: boolean, seconds: number): void;
  readonly consul: ConsulMetrics;
}

/** One label combination of the request metrics. */
interface RequestSeries {
  readonly labels: { readonly method: string; readonly code: string; readonly uri: string };
  /** Requests not yet handed to the prom-client counter. */
  pending: number;
  readonly time: DurationSeries;
}

/** One (method, uri) series of the request duration histogram. */
interface DurationSeries {
  readonly method: string;
  readonly uri: string;
  /** Observations per bucket, not cumulative; the last slot counts those above every bound. */
  readonly counts: number[];
  sum: number;
  count: number;
}

type DurationLabel = 'method' | 'uri' | 'le';
type HistogramData = Awaited<ReturnType<Histogram<DurationLabel>['get']>>;

const DURATION_NAME = 'http_server_request_duration_seconds';
const DURATION_HELP = 'HTTP request duration in seconds, by method and route';
const DURATION_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/**
 * The registry prints a metric's `type` as it is: prom-client's own metrics
 * carry the string. Its typings declare a numeric enum its JavaScript does
 * not even export, hence the cast.
 */
const HISTOGRAM_TYPE = 'histogram' as unknown as MetricType;

/**
 * http_server_request_duration_seconds, kept in plain arrays and rendered
 * only when read. prom-client's labelled observe() hashes and validates its
 * labels on every call; in the server that cost more than all the rest of a
 * fast-path health check (measured: ~8 of ~45 µs per request). The rendered
 * series are the same as prom-client's own (a unit test compares them).
 */
class RequestDurations extends Histogram<DurationLabel> {
  private readonly series: DurationSeries[] = [];

  constructor(registry: Registry) {
    super({ name: DURATION_NAME, help: DURATION_HELP, labelNames: ['method', 'uri'], buckets: [...DURATION_BUCKETS], registers: [registry] });
  }

  seriesFor(method: string, uri: string): DurationSeries {
    let one = this.series.find((candidate) => candidate.method === method && candidate.uri === uri);
    if (one === undefined) {
      one = { method, uri, counts: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      this.series.push(one);
    }
    return one;
  }

  record(series: DurationSeries, seconds: number): void {
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]) bucket += 1;
    series.counts[bucket] += 1;
    series.sum += seconds;
    series.count += 1;
  }

  override get(): Promise<HistogramData> {
    return Promise.resolve(this.render());
  }

  /** What the registry reads to render /metrics (prom-client calls it in place of get()). */
  getForPromString(): Promise<HistogramData> {
    return Promise.resolve(this.render());
  }

  private render(): HistogramData {
    const bucketName = `${DURATION_NAME}_bucket`;
    const values: HistogramData['values'] = [];
    for (const { method, uri, counts, sum, count } of this.series) {
      let cumulative = 0;
      DURATION_BUCKETS.forEach((le, bucket) => {
        cumulative += counts[bucket];
        values.push({ metricName: bucketName, labels: { le, method, uri }, value: cumulative });
      });
      values.push({ metricName: bucketName, labels: { le: '+Inf', method, uri }, value: count });
      values.push({ metricName: `${DURATION_NAME}_sum`, labels: { method, uri }, value: sum });
      values.push({ metricName: `${DURATION_NAME}_count`, labels: { method, uri }, value: count });
    }
    return { name: DURATION_NAME, help: DURATION_HELP, type: HISTOGRAM_TYPE, aggregator: 'sum', collect: () => undefined, values };
  }
}

/** Methods outside this set share one label value, so the label set cannot grow. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

/** The longest timer interval Node accepts (2^31 - 1 ms, about 24.8 days). */
const NEVER_MS = 2 ** 31 - 1;

const SOURCE_LABELS: Readonly<Record<SourceName, string>> = {
  jicofoHealth: 'jicofo_health',
  jicofoStats: 'jicofo_stats',
  prosody: 'prosody',
  census: 'census',
  statusFile: 'status_file',
};

export interface MetricsSources {
  /** Log lines the log sink dropped so far, by reason (src/runtime/log-sink.ts). */
  readonly droppedLogLines?: () => Readonly<Record<string, number>>;
  /** The report in force at scrape time, for what it says of the status word's source and of Consul. */
  readonly report?: () => Report | null;
}

export function createMetrics(sources: MetricsSources = {}): SidecarMetrics {
  const registry = new Registry();
  // prom-client's event-loop collector cannot be left out, only replaced:
  // its timer is set to the longest interval Node takes, so it never wakes.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: NEVER_MS });
  for (const name of LOOP_DELAY_METRICS) registry.removeSingleMetric(name);
  registerLoopDelay(registry);

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
  // A plain number, handed to the gauge when it is read: two gauge updates
  // per request went through prom-client's label handling for nothing.
  let inFlight = 0;
  new Gauge({
    name: 'http_server_requests_in_flight',
    help: 'HTTP requests being served',
    registers: [registry],
    collect() {
      this.set(inFlight);
    },
  });
  // Requests are counted in plain numbers and handed to prom-client when it
  // is read: a labelled inc() hashes its labels on every call, which was a
  // measurable share of a health check's cost.
  const series: RequestSeries[] = [];
  new Counter({
    name: 'http_server_requests_total',
    help: 'HTTP requests served, by method, status code and route',
    labelNames: ['method', 'code', 'uri'],
    registers: [registry],
    collect() {
      for (const one of series) {
        if (one.pending === 0) continue;
        this.inc(one.labels, one.pending);
        one.pending = 0;
      }
    },
  });
  const durations = new RequestDurations(registry);
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
  const { droppedLogLines } = sources;
  if (droppedLogLines !== undefined) {
    const handed: Record<string, number> = {};
    new Counter({
      name: 'signal_log_lines_dropped_total',
      help: 'Log lines dropped because every log sink was closed (closed) or the reader fell behind (full)',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        for (const [reason, count] of Object.entries(droppedLogLines())) {
          this.inc({ reason }, count - (handed[reason] ?? 0));
          handed[reason] = count;
        }
      },
    });
  }
  // Prometheus' own names for the same fact, so the same alert rule fits.
  const reloadSuccessful = new Gauge({
    name: 'signal_config_last_reload_successful',
    help: 'Whether the last configuration reload (SIGHUP) was applied (1) or refused (0); 1 before any',
    registers: [registry],
  });
  const reloadSuccessAt = new Gauge({
    name: 'signal_config_last_reload_success_timestamp_seconds',
    help: 'When the configuration in force was read: the start, or the last reload applied',
    registers: [registry],
  });
  reloadSuccessful.set(1);
  reloadSuccessAt.set(Date.now() / 1000);
  const notifications = new Counter({
    name: 'signal_notifications_total',
    help: 'State-change notifications to NOTIFY_URL receivers, by outcome (delivered, failed, dropped)',
    labelNames: ['outcome'],
    registers: [registry],
  });

  const consul = registerConsulMetrics(registry, sources.report ?? (() => null));

  const watchEvents = new Counter({
    name: 'signal_connection_watch_events_total',
    help: 'Connections held open to an upstream (CONNECTION_WATCH): connected, closed by the upstream (each asks for a probe), failed attempts',
    labelNames: ['upstream', 'event'],
    registers: [registry],
  });

  // method → code → uri: lookups with the strings and numbers at hand, no key to build per request.
  const byMethod = new Map<string, Map<number, Map<string, RequestSeries>>>();
  const seriesFor = (method: string, code: number, uri: string): RequestSeries => {
    let byCode = byMethod.get(method);
    if (byCode === undefined) {
      byCode = new Map();
      byMethod.set(method, byCode);
    }
    let byUri = byCode.get(code);
    if (byUri === undefined) {
      byUri = new Map();
      byCode.set(code, byUri);
    }
    let one = byUri.get(uri);
    if (one === undefined) {
      one = {
        labels: { method, code: String(code), uri },
        pending: 0,
        time: durations.seriesFor(method, uri),
      };
      byUri.set(uri, one);
      series.push(one);
    }
    return one;
  };

  return {
    registry,
    render: () => renderMetrics(registry),
    health,
    census,
    sumSquared,
    healthChecks,
    unhealthyChecks,
    unhealthyTransitions,
    participants,
    participantMax,
    observeRequest(method, uri, code, seconds) {
      const one = seriesFor(KNOWN_METHODS.has(method) ? method : 'OTHER', code, uri);
      one.pending += 1;
      durations.record(one.time, seconds);
    },
    requestStarted: () => {
      inFlight += 1;
    },
    requestFinished: () => {
      inFlight -= 1;
    },
    recordProbe(source, success, seconds) {
      const label = { source: SOURCE_LABELS[source] };
      probeSuccess.set(label, success ? 1 : 0);
      probeDuration.set(label, seconds);
      probeRoundTrip.observe(label, seconds);
    },
    countNotification: (outcome) => notifications.inc({ outcome }),
    countWatchEvent: (upstream, event) => watchEvents.inc({ upstream, event }),
    configReloaded(applied, seconds) {
      reloadSuccessful.set(applied ? 1 : 0);
      if (applied) reloadSuccessAt.set(seconds);
    },
    consul,
  };
}
