import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/**
 * Event-loop delay for /metrics, under the names of prom-client's default
 * collector (dashboards use them), measured here for two reasons:
 *
 * - Node's monitorEventLoopDelay histogram computes `mean` and `stddev` by
 *   walking all of its buckets: 0.38 ms of a 0.73 ms scrape, measured. Here
 *   the mean and deviation are running sums and only the percentiles read a
 *   (small) histogram.
 * - Node's histogram records the whole timer interval, not the delay beyond
 *   it: sampled every 100 ms, an idle daemon's "lag" read 0.1 s. Here a
 *   sample is how late the timer fired. Timers run on the loop's millisecond
 *   clock, so delays under a millisecond read as 0, as they were lost in the
 *   interval before.
 */

/** How often the loop is sampled. Longer wakes an idle daemon less; shorter sees shorter stalls. */
export const SAMPLE_INTERVAL_MS = 100;

/** Delays are kept in whole microseconds, up to an hour; a longer stall counts as an hour in the percentiles. */
const LONGEST_MICROS = 3_600_000_000;

/** What /metrics reports for the samples since the last scrape, in seconds. */
export interface DelaySummary {
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly stddev: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

/** No sample since the last scrape (scrapes closer than the sample interval): nothing to say. */
export const NO_DELAYS: DelaySummary = { min: NaN, max: NaN, mean: NaN, stddev: NaN, p50: NaN, p90: NaN, p99: NaN };

/** How late a timer due every `intervalMs` fired, given the times (ms) of this firing and the one before. */
export function delayOf(previousMs: number, nowMs: number, intervalMs: number): number {
  return Math.max(0, nowMs - previousMs - intervalMs) / 1000;
}

/** Running figures of the delays since the last scrape; `squares` is Welford's sum of squared distances from the mean. */
interface Running {
  count: number;
  mean: number;
  squares: number;
  min: number;
  max: number;
}

const nothingYet = (): Running => ({ count: 0, mean: 0, squares: 0, min: Infinity, max: 0 });

/** Delay samples between two scrapes: exact min, max, mean and deviation; percentiles to three digits. */
export class DelayWindow {
  private running = nothingYet();
  private readonly micros: RecordableHistogram = createHistogram({ lowest: 1, highest: LONGEST_MICROS, figures: 3 });

  record(seconds: number): void {
    const running = this.running;
    running.count += 1;
    // Welford's update keeps the deviation exact for small delays.
    const distance = seconds - running.mean;
    running.mean += distance / running.count;
    running.squares += distance * (seconds - running.mean);
    running.min = Math.min(running.min, seconds);
    running.max = Math.max(running.max, seconds);
    this.micros.record(Math.min(LONGEST_MICROS, Math.max(1, Math.round(seconds * 1e6))));
  }

  /** The summary of the samples so far, and a fresh start for the next scrape. */
  take(): DelaySummary {
    const { count, mean, squares, min, max } = this.running;
    if (count === 0) return NO_DELAYS;
    // The histogram holds whole microseconds from 1 up; the exact extremes bound what it says.
    const percentile = (p: number): number => Math.min(max, Math.max(min, this.micros.percentile(p) / 1e6));
    const summary: DelaySummary = { min, max, mean, stddev: Math.sqrt(squares / count), p50: percentile(50), p90: percentile(90), p99: percentile(99) };
    this.running = nothingYet();
    this.micros.reset();
    return summary;
  }
}

const SUMMARY_GAUGES: readonly [keyof DelaySummary, string, string][] = [
  ['min', 'nodejs_eventloop_lag_min_seconds', 'Shortest event-loop delay since the last scrape'],
  ['max', 'nodejs_eventloop_lag_max_seconds', 'Longest event-loop delay since the last scrape'],
  ['mean', 'nodejs_eventloop_lag_mean_seconds', 'Mean event-loop delay since the last scrape'],
  ['stddev', 'nodejs_eventloop_lag_stddev_seconds', 'Standard deviation of the event-loop delays since the last scrape'],
  ['p50', 'nodejs_eventloop_lag_p50_seconds', 'Median event-loop delay since the last scrape'],
  ['p90', 'nodejs_eventloop_lag_p90_seconds', '90th percentile of the event-loop delays since the last scrape'],
  ['p99', 'nodejs_eventloop_lag_p99_seconds', '99th percentile of the event-loop delays since the last scrape'],
];

/** Every metric name this collector owns. */
export const LOOP_DELAY_METRICS: readonly string[] = ['nodejs_eventloop_lag_seconds', ...SUMMARY_GAUGES.map(([, name]) => name)];

/**
 * Registers the event-loop gauges and starts sampling, for the life of the
 * process: the timer is unref'd, so it never keeps the process alive.
 */
export function registerLoopDelay(registry: Registry): void {
  const window = new DelayWindow();
  let previous = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    window.record(delayOf(previous, now, SAMPLE_INTERVAL_MS));
    previous = now;
  }, SAMPLE_INTERVAL_MS);
  timer.unref();

  // Registered first, so that its collect() has set the summary gauges before the registry reads them.
  const lag = new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Time from the previous scrape to the next turn of the event loop, in seconds',
    registers: [registry],
    collect() {
      // As in prom-client: measured now, shown at the following scrape.
      const asked = performance.now();
      setImmediate(() => lag.set((performance.now() - asked) / 1000));
      const summary = window.take();
      for (const { key, gauge } of gauges) gauge.set(summary[key]);
    },
  });
  const gauges = SUMMARY_GAUGES.map(([key, name, help]) => ({ key, gauge: new Gauge({ name, help, registers: [registry] }) }));
}
