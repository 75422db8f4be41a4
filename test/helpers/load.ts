import net from 'node:net';
import { Worker } from 'node:worker_threads';

/** The bound for GET /health p99 under every kind of abuse. */
export const HEALTH_P99_MS = 50;

/** The p-th percentile (0–100) of some numbers, nearest rank; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

export interface LatencyProbe {
  /** Milliseconds of each `/health` request since start (or the last `take`). */
  take(): number[];
  /** Requests that failed or did not answer 200. */
  readonly failures: number;
  stop(): Promise<void>;
}

/**
 * The sampler runs in a worker thread: its clock must not stall when the
 * test's own thread is busy driving thousands of sockets, or the daemon
 * would be blamed for the load generator's delays.
 */
const SAMPLER = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let running = true;
parentPort.on('message', () => { running = false; });
const once = () => new Promise((done) => {
  const started = performance.now();
  const req = http.get({ host: '127.0.0.1', port: workerData.port, path: '/health', agent, timeout: 10000 }, (res) => {
    res.resume();
    res.on('end', () => done([performance.now() - started, res.statusCode === 200]));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => done([performance.now() - started, false]));
});
(async () => {
  while (running) {
    const [ms, ok] = await once();
    parentPort.postMessage({ ms, ok });
    await new Promise((done) => setTimeout(done, workerData.everyMs));
  }
  agent.destroy();
  parentPort.postMessage({ done: true });
})();
`;

/** Asks GET /health every `everyMs` (keep-alive, like a load balancer) and keeps the times. */
export function sampleHealth(port: number, everyMs = 20): LatencyProbe {
  let samples: number[] = [];
  let failures = 0;
  const worker = new Worker(SAMPLER, { eval: true, workerData: { port, everyMs } });
  // A test that fails before stop() must not be kept alive by its sampler.
  worker.unref();
  const finished = new Promise<void>((done) => {
    worker.on('message', (message: { ms?: number; ok?: boolean; done?: boolean }) => {
      if (message.done === true) {
        done();
        return;
      }
      samples.push(message.ms ?? Number.NaN);
      if (message.ok !== true) failures += 1;
    });
    worker.once('exit', () => done());
  });
  return {
    take() {
      const taken = samples;
      samples = [];
      return taken;
    },
    get failures() {
      return failures;
    },
    async stop() {
      worker.postMessage('stop');
      await finished;
      await worker.terminate();
    },
  };
}

/** The series of a Prometheus text exposition (name and labels), without values or comments. */
export function metricSeries(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.slice(0, line.lastIndexOf(' '))),
  );
}

/** One sample value from a Prometheus text exposition. */
export function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? Number.NaN : Number(line.slice(series.length + 1));
}

/**
 * Opens a raw TCP connection and waits until it is established. With
 * `halfOpen` the socket stays open after the peer's FIN, as a client that
 * never closes would.
 */
export function connect(port: number, options: { host?: string; halfOpen?: boolean } = {}): Promise<net.Socket> {
  return new Promise((done, fail) => {
    const socket = net.connect({ port, host: options.host ?? '127.0.0.1', allowHalfOpen: options.halfOpen ?? false });
    socket.once('connect', () => {
      socket.removeListener('error', fail);
      // Later errors (resets by the daemon) are expected in these tests.
      socket.on('error', () => undefined);
      done(socket);
    });
    socket.once('error', fail);
  });
}

/** Runs `task` for every item with at most `limit` at once. */
export async function inBatches<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await task(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Formats rows as an aligned text table for the heavy tests' reports. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ')).join('\n');
}
