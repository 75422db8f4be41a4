import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { exchange, get, processUsage, sleep, startAgainst, untilHealthy, waitFor, type Daemon } from '../helpers/daemon';
import { HEALTH_P99_MS, connect, inBatches, metricSeries, percentile, sampleHealth, table, type LatencyProbe } from '../helpers/load';

const IDLE = 2000;
const SLOWLORIS = 300;
const HUGE_HEADERS = 200;
/** Clients that send headers, then a body one byte a second: only the request timeout (30 s) ends them. */
const BODY_DRIPPERS = 50;
const REQUEST_TIMEOUT_BOUND_MS = 45_000;
const DISTINCT_URLS = 20_000;
/**
 * Keep-alive clients sending the distinct URLs back to back. This phase is
 * about the metric label set; 8 clients already saturate the daemon's thread
 * on this 2-core machine, and /health then waits behind each one's request.
 */
const URL_FLOOD_CLIENTS = 8;
/** The daemon's headersTimeout is 10 s, checked every second; the rest is room for a loaded machine. */
const HEADERS_TIMEOUT_BOUND_MS = 20_000;

interface Phase {
  readonly name: string;
  readonly latencies: number[];
  readonly note: string;
}

const statusOf = (answer: string): string => answer.split('\r\n')[0] ?? '';

describe('HTTP server under idle floods, slowloris, huge headers, URL floods and odd methods', () => {
  const fake = new FakeSignalNode();
  let daemon: Daemon;
  let health: LatencyProbe;
  let pid = 0;
  let baseline = { rssKiB: 0, fds: 0 };
  const phases: Phase[] = [];
  const drippers: net.Socket[] = [];
  let drip: NodeJS.Timeout | undefined;
  let drippersStarted = 0;

  before(async () => {
    await fake.start();
    // The fake signal node shares this process with the flood's clients, so
    // probes get the production deadline (3 s), not QUICK's half second.
    daemon = await startAgainst(fake, { POLLING_INTERVAL: '1', PROBE_TIMEOUT: '3' });
    await untilHealthy(daemon.httpPort);
    pid = daemon.child.pid ?? 0;
    await sleep(500);
    baseline = processUsage(pid);
    health = sampleHealth(daemon.httpPort);
  });
  after(async () => {
    clearInterval(drip);
    for (const socket of drippers) socket.destroy();
    await health.stop();
    const end = processUsage(pid);
    process.stdout.write(
      `\n${table(
        ['phase', '/health p50 ms', 'p99 ms', 'max ms', 'n', 'what the daemon did'],
        phases.map((phase) => [
          phase.name,
          percentile(phase.latencies, 50).toFixed(1),
          percentile(phase.latencies, 99).toFixed(1),
          Math.max(...phase.latencies).toFixed(1),
          phase.latencies.length,
          phase.note,
        ]),
      )}\ndaemon RSS ${(baseline.rssKiB / 1024).toFixed(1)} → ${(end.rssKiB / 1024).toFixed(1)} MiB, fds ${baseline.fds} → ${end.fds}, /health failures ${health.failures}\n`,
    );
    await daemon.stop();
    await fake.stop();
  });

  const record = (name: string, note: string): Phase => {
    const phase = { name, latencies: health.take(), note };
    phases.push(phase);
    return phase;
  };
  const assertFast = (phase: Phase): void => {
    assert.ok(percentile(phase.latencies, 99) < HEALTH_P99_MS, `${phase.name}: /health p99 ${percentile(phase.latencies, 99)} ms`);
  };

  it(`${IDLE} idle connections and ${SLOWLORIS} slowloris clients are cut off by the headers timeout`, async () => {
    health.take();
    const idle: net.Socket[] = [];
    const answers = new Map<net.Socket, string>();
    const track = (socket: net.Socket): net.Socket => {
      answers.set(socket, '');
      socket.setEncoding('latin1').on('data', (chunk: string) => answers.set(socket, (answers.get(socket) ?? '') + chunk));
      return socket;
    };
    const started = performance.now();
    // Started now, checked by the last test: the request timeout is 30 s.
    drippersStarted = started;
    for (let i = 0; i < BODY_DRIPPERS; i += 1) {
      const socket = await connect(daemon.httpPort);
      socket.resume();
      socket.write(`POST /signal/health HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n`);
      drippers.push(socket);
    }
    drip = setInterval(() => {
      for (const socket of drippers) if (socket.writable) socket.write('a');
    }, 1000);
    await inBatches(Array.from({ length: IDLE }), 200, async () => idle.push(track(await connect(daemon.httpPort))));
    const slow: net.Socket[] = [];
    await inBatches(Array.from({ length: SLOWLORIS }), 100, async () => {
      const socket = track(await connect(daemon.httpPort));
      socket.write('GET /health HTTP/1.1\r\nHost: x\r\n');
      slow.push(socket);
    });
    const headerDrip = setInterval(() => {
      for (const socket of slow) if (socket.writable) socket.write(`X-Slow-${Math.random().toString(36).slice(2)}: 1\r\n`);
    }, 1000);
    const peak = processUsage(pid);
    try {
      const all = [...idle, ...slow];
      await waitFor('every idle and slow client to be closed by the daemon', () => (all.every((socket) => socket.closed) ? true : undefined), HEADERS_TIMEOUT_BOUND_MS, 250);
    } finally {
      clearInterval(headerDrip);
    }
    const closedAfter = Math.round(performance.now() - started);
    const statuses = new Set([...answers.values()].map(statusOf));
    const phase = record(
      'idle + slowloris',
      `${IDLE} idle + ${SLOWLORIS} slow all closed within ${closedAfter} ms with ${[...statuses].join(', ')}; fds peak ${peak.fds}`,
    );
    assert.deepEqual([...statuses], ['HTTP/1.1 408 Request Timeout']);
    // The body drippers are still connected by design; everything else must be gone.
    const stillDripping = (): number => drippers.filter((socket) => !socket.closed).length;
    await waitFor('the daemon to let go of the sockets', () => (processUsage(pid).fds <= baseline.fds + stillDripping() + 2 ? true : undefined), 5000, 100);
    assertFast(phase);
  });

  it(`${HUGE_HEADERS} requests with huge headers are refused with 431`, async () => {
    health.take();
    const oneHuge = `GET /health HTTP/1.1\r\nHost: x\r\nX-Huge: ${'a'.repeat(64 * 1024)}\r\n\r\n`;
    const many = `GET /health HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 10_000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\n\r\n`;
    const answers = await inBatches(Array.from({ length: HUGE_HEADERS }, (_, i) => (i % 2 === 0 ? oneHuge : many)), 50, (request) => exchange(daemon.httpPort, request, 15_000));
    const statuses = new Set(answers.map(statusOf));
    const phase = record('huge headers', `${HUGE_HEADERS} requests (one 64 KiB header / 10,000 headers): ${[...statuses].join(', ')}`);
    assert.deepEqual([...statuses], ['HTTP/1.1 431 Request Header Fields Too Large']);
    assertFast(phase);
  });

  it(`${DISTINCT_URLS} distinct URLs do not grow the metrics`, async () => {
    // Warm up every label combination this phase may legitimately create.
    await get(daemon.httpPort, '/no/such/page');
    await get(daemon.httpPort, '/metrics');
    const before = (await get(daemon.httpPort, '/metrics')).body;
    health.take();
    const started = performance.now();
    const agent = new http.Agent({ keepAlive: true, maxSockets: URL_FLOOD_CLIENTS });
    const codes = await inBatches(Array.from({ length: DISTINCT_URLS }, (_, i) => i), URL_FLOOD_CLIENTS, (i) =>
      new Promise<number>((done) => {
        const path = `/flood/${i}/${Math.random().toString(36).slice(2)}?q=${i}`;
        http
          .get({ host: '127.0.0.1', port: daemon.httpPort, path, agent }, (res) => {
            res.resume();
            res.on('end', () => done(res.statusCode ?? 0));
          })
          .on('error', () => done(0));
      }),
    );
    agent.destroy();
    const rate = Math.round(DISTINCT_URLS / ((performance.now() - started) / 1000));
    const phase = record('20,000 URLs', '');
    const afterText = (await get(daemon.httpPort, '/metrics')).body;
    // Only the request metrics carry request-derived labels; process metrics
    // (garbage collection kinds) may legitimately appear over time.
    const added = [...metricSeries(afterText)].filter((series) => series.startsWith('http_server_') && !metricSeries(before).has(series));
    phase.latencies.push(...health.take());
    (phase as { note: string }).note = `${rate} req/s from ${URL_FLOOD_CLIENTS} clients, all ${new Set(codes).size === 1 ? codes[0] : [...new Set(codes)].join('/')}; /metrics ${before.length} → ${afterText.length} bytes, ${added.length} new series`;
    assert.deepEqual([...new Set(codes)], [404]);
    assert.deepEqual(added, []);
    assert.ok(Math.abs(afterText.length - before.length) < 2048, `metrics grew from ${before.length} to ${afterText.length} bytes`);
    assertFast(phase);
  });

  it('unusual methods are answered and share one metric label', async () => {
    health.take();
    const methods = ['PROPFIND', 'MKCOL', 'SEARCH', 'PURGE', 'LINK', 'UNLINK', 'REPORT', 'TRACE', 'OPTIONS', 'DELETE', 'PUT', 'PATCH', 'POST', 'HEAD', 'M-SEARCH', 'NOTIFY', 'LOCK', 'BIND', 'QUERY', 'BREW', 'FOO', 'get'];
    const results = await Promise.all(
      methods.map(async (method) => [method, statusOf(await exchange(daemon.httpPort, `${method} /signal/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, 15_000))] as const),
    );
    const metrics = (await get(daemon.httpPort, '/metrics')).body;
    const labelled = [...metrics.matchAll(/http_server_requests_total\{method="([^"]+)"/g)].map((match) => match[1]);
    const phase = record('odd methods', results.map(([method, status]) => `${method} ${status.split(' ')[1] ?? 'closed'}`).join(', '));
    for (const [method, status] of results) assert.match(status, /^HTTP\/1\.1 \d{3} /, `${method} got no status line`);
    for (const label of labelled) assert.ok(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'OTHER'].includes(label ?? ''), `method label ${label}`);
    assert.equal((await get(daemon.httpPort, '/health')).status, 200);
    assertFast(phase);
  });

  it(`${BODY_DRIPPERS} bodies dripped a byte a second are cut off by the request timeout`, async () => {
    health.take();
    await waitFor(
      'the request timeout to close every dripping body',
      () => (drippers.every((socket) => socket.closed) ? true : undefined),
      Math.max(0, drippersStarted + REQUEST_TIMEOUT_BOUND_MS - performance.now()),
      250,
    );
    const closedAfter = Math.round(performance.now() - drippersStarted);
    clearInterval(drip);
    assertFast(record('dripping bodies', `${BODY_DRIPPERS} closed within ${closedAfter} ms of their start (request timeout 30 s)`));
  });

  it('holds no extra descriptor afterwards', async () => {
    await waitFor('descriptors back at the baseline', () => (processUsage(pid).fds <= baseline.fds + 2 ? true : undefined), 10_000, 100);
  });
});
