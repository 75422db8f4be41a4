import type { CensusRoom } from '../collect/census';
import type { ConsulClient, KeyWrite } from '../consul/client';
import type { ConsulOutage } from '../consul/outage';
import type { Report } from '../decide/report';

/**
 * CONSUL_REPORTS: the report written to CONSUL_REPORT_KEY every
 * CONSUL_REPORTS_INTERVAL, and within a second of a change of `healthy`,
 * `status` or `weight`, so a tool reading Consul sees a failure at once
 * rather than up to a minute later. One write at a time, at most one a
 * second: a flapping node or a hung Consul never piles writes up.
 */

/** What the last write did, for the report and /metrics. */
export interface ConsulReportsSample {
  readonly key: string;
  /** Consul took the last write. */
  readonly ok: boolean;
  readonly problem: string | null;
  /** Size of the last value sent. */
  readonly bytes: number;
  /** The census of the last value sent was cut to fit Consul's value limit. */
  readonly censusTruncated: boolean;
}

export type ReportWriteOutcome = 'written' | 'failed';

export interface ConsulReportsOptions {
  readonly client: ConsulClient;
  readonly key: string;
  readonly intervalMs: number;
  /**
   * The report to write now, with the census when CENSUS_REPORTS and when the
   * node was last reported unhealthy (null before the first decision).
   */
  readonly report: () => { readonly report: Report; readonly census: readonly CensusRoom[] | null; readonly lastUnhealthy: string | null } | null;
  readonly record: (sample: ConsulReportsSample) => void;
  readonly counted: (outcome: ReportWriteOutcome, bytes: number, censusTruncated: boolean) => void;
  /** Told of every write's outcome: it logs an outage or a refusal once. */
  readonly outage: ConsulOutage;
  readonly now?: () => number;
  /** Starts a timer that does not keep the process alive; the tests give one they move by hand. */
  readonly timer?: (run: () => void, ms: number) => Timer;
  /** Consul's limit on a value; a 413 that names a smaller one is followed. */
  readonly limitBytes?: number;
}

export interface Timer {
  cancel(): void;
}

const realTimer = (run: () => void, ms: number): Timer => {
  const timer = setTimeout(run, ms);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
};

export interface ConsulReports {
  /** Health, status or weight changed: write within a second. */
  changed(): void;
  close(): void;
}

/** Consul's default kv_max_value_size: 512 KiB. */
export const CONSUL_VALUE_LIMIT = 512 * 1024;
/** The fastest writes follow one another: a flapping node costs Consul one write a second. */
const MIN_GAP_MS = 1000;
const WRITE_TIMEOUT_CAP_MS = 10_000;

export interface ReportValue {
  readonly body: string;
  readonly bytes: number;
  readonly censusTruncated: boolean;
}

/**
 * The value written: the report plus `census`. When the census makes it
 * larger than `limitBytes` (a busy node's census is megabytes), the largest
 * rooms are kept, as many as fit, and `censusTruncated` says so beside
 * `censusRooms`, the full count: never a silently short census, never a
 * report Consul refuses. `lastUnhealthy` (the time of the last unhealthy
 * decision, null when there was none) lets a reader of the census know that
 * prosody may still hold the BOSH participants of rooms that failed over.
 */
export function reportValue(plain: Report, census: readonly CensusRoom[] | null, limitBytes: number, lastUnhealthy: string | null = null): ReportValue {
  const report = { ...plain, lastUnhealthy };
  if (census === null) {
    const body = JSON.stringify({ ...report, census: [] });
    return { body, bytes: Buffer.byteLength(body), censusTruncated: false };
  }
  const whole = JSON.stringify({ ...report, census, censusTruncated: false, censusRooms: census.length });
  const wholeBytes = Buffer.byteLength(whole);
  if (wholeBytes <= limitBytes) return { body: whole, bytes: wholeBytes, censusTruncated: false };

  const skeleton = Buffer.byteLength(JSON.stringify({ ...report, census: [], censusTruncated: true, censusRooms: census.length }));
  const largestFirst = [...census].sort((a, b) => b.participants - a.participants);
  const kept: CensusRoom[] = [];
  let size = skeleton;
  for (const room of largestFirst) {
    // Each room costs its JSON and, after the first, a comma.
    const cost = Buffer.byteLength(JSON.stringify(room)) + (kept.length > 0 ? 1 : 0);
    if (size + cost > limitBytes) break;
    kept.push(room);
    size += cost;
  }
  const body = JSON.stringify({ ...report, census: kept, censusTruncated: true, censusRooms: census.length });
  return { body, bytes: Buffer.byteLength(body), censusTruncated: true };
}

export function publishConsulReports(options: ConsulReportsOptions): ConsulReports {
  const now = options.now ?? (() => performance.now());
  const startTimer = options.timer ?? realTimer;
  const timeoutMs = Math.min(options.intervalMs, WRITE_TIMEOUT_CAP_MS);
  let limitBytes = options.limitBytes ?? CONSUL_VALUE_LIMIT;
  let timer: Timer | undefined;
  let writing = false;
  let wanted = false;
  let lastStart = -Infinity;
  let closed = false;

  const schedule = (ms: number): void => {
    timer?.cancel();
    timer = startTimer(() => void write(), Math.max(0, ms));
  };

  const done = (outcome: KeyWrite, value: ReportValue): void => {
    const ok = outcome.kind === 'written';
    options.counted(ok ? 'written' : 'failed', value.bytes, value.censusTruncated);
    options.record({ key: options.key, ok, problem: ok ? null : outcome.problem, bytes: value.bytes, censusTruncated: value.censusTruncated });
    if (ok) options.outage.answered('report writes');
    // A 413 left after fitting Consul's limit is a refusal like a 403.
    else options.outage.failed('report writes', outcome.problem, outcome.kind === 'too-large' ? 413 : outcome.status);
  };

  const write = async (): Promise<void> => {
    if (closed) return;
    const current = options.report();
    if (current === null) {
      schedule(MIN_GAP_MS);
      return;
    }
    // Consul is away and the status watch is already knocking once a second
    // at most: a write now would only add a connection attempt. Its recovery
    // calls changed(), and the report follows at once.
    if (options.outage.retrying('status watch')) {
      schedule(options.intervalMs);
      return;
    }
    writing = true;
    wanted = false;
    lastStart = now();
    let value = reportValue(current.report, current.census, limitBytes, current.lastUnhealthy);
    let outcome = await options.client.writeKey(options.key, value.body, timeoutMs);
    // Consul runs with a smaller kv_max_value_size than the default: fit it at once.
    if (outcome.kind === 'too-large' && outcome.maxBytes !== null && outcome.maxBytes < limitBytes && !closed) {
      limitBytes = outcome.maxBytes;
      value = reportValue(current.report, current.census, limitBytes, current.lastUnhealthy);
      outcome = await options.client.writeKey(options.key, value.body, timeoutMs);
    }
    writing = false;
    if (closed) return;
    done(outcome, value);
    if (wanted) schedule(lastStart + MIN_GAP_MS - now());
    else schedule(options.intervalMs);
  };

  schedule(0);
  return {
    changed() {
      if (closed) return;
      wanted = true;
      if (!writing) schedule(lastStart + MIN_GAP_MS - now());
    },
    close() {
      closed = true;
      timer?.cancel();
      options.client.close();
    },
  };
}
