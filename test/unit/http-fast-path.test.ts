import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/config';
import { FakeSignalNode, REPLIES } from '../../src/demo/fake-signal-node';
import { createHttpServer, type SidecarHttpServer } from '../../src/serve/http-server';
import { createLogger } from '../../src/runtime/logger';
import { createMetrics, type SidecarMetrics } from '../../src/serve/metrics/metrics';
import { createSidecar, type Sidecar } from '../../src/sidecar';
import { freePort, waitFor } from '../helpers/daemon';

/**
 * Every route's exact path is answered before Express. These tests serve the same
 * state through a server with the fast path and one without, and require
 * identical answers (status, headers, body) and identical request metrics.
 */

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function request(port: number, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.once('end', () => {
        // The only header allowed to differ: the clock moves between the two requests.
        const { date, ...headers } = res.headers;
        assert.ok(date !== undefined);
        resolve({ status: res.statusCode ?? 0, headers, body });
      });
    });
    // A request left unanswered fails here, named, instead of holding the run.
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.once('error', reject);
    req.end();
  });
}

const PATHS = [
  '/health',
  '/signal/health',
  '/about/health',
  '/signal/report',
  '/signal/census',
  '/signal/events',
  '/signal/health?probe=1',
  '/signal/health/',
  '/Signal/Health',
  '/signal/report/extra',
  '/nowhere',
  '/',
  '/SIGNAL/REPORT/',
  '/signal/%68ealth',
  '/signal/%zz',
  '/signal//health',
  '/nowhere/deep/down?x=1',
  'http://sidecar.example/signal/health',
];
const METHODS = ['GET', 'HEAD', 'POST'];

interface Pair {
  readonly fast: SidecarHttpServer;
  readonly express: SidecarHttpServer;
  readonly fastMetrics: SidecarMetrics;
  readonly expressMetrics: SidecarMetrics;
  fastPort: number;
  expressPort: number;
}

/** Request lines of the shared metrics that must match; durations differ, their counts must not. */
async function requestMetrics(metrics: SidecarMetrics): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text
    .split('\n')
    .filter((line) => /^(http_server_requests_total|http_server_requests_in_flight|http_server_request_duration_seconds_count|signal_health_check|signal_unhealthy_check)[ {]/.test(line))
    .sort();
}

void describe('HTTP fast path', () => {
  let node: FakeSignalNode;
  let sidecar: Sidecar;
  let dir: string;
  let pair: Pair;

  before(async () => {
    node = await new FakeSignalNode().start();
    dir = mkdtempSync(join(tmpdir(), 'sidecar-fast-path-'));
    const statusFile = join(dir, 'shard-status');
    writeFileSync(statusFile, 'ready\n');
    const { config } = loadConfig({
      HTTP_PORT: String(await freePort()),
      TCP_PORT: String(await freePort()),
      HTTP_HOST: '127.0.0.1',
      TCP_HOST: '127.0.0.1',
      JICOFO_ORIG: node.jicofoOrigin,
      PROSODY_ORIG: node.prosodyOrigin,
      STATUS_PATH: statusFile,
      POLLING_INTERVAL: '0.2',
      HEALTH_DAMPENING_INTERVAL: '0',
      DRAIN_GRACE_INTERVAL: '0',
      CENSUS_POLL: 'true',
      CENSUS_HOST: 'meet.example.com',
    });
    assert.ok(config !== undefined);
    const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });
    sidecar = createSidecar(config, { logger: createLogger('error', quiet) });
    const serve = (fastPath: boolean): { server: SidecarHttpServer; metrics: SidecarMetrics } => {
      const metrics = createMetrics();
      const server = createHttpServer({ state: sidecar.state, metrics, serveMetrics: true, serveCensus: true, onError: () => undefined, events: () => '{"events":[]}', fastPath });
      return { server, metrics };
    };
    const fast = serve(true);
    const express = serve(false);
    pair = { fast: fast.server, express: express.server, fastMetrics: fast.metrics, expressMetrics: express.metrics, fastPort: 0, expressPort: 0 };
    pair.fastPort = (await pair.fast.listen(0, '127.0.0.1')).port;
    pair.expressPort = (await pair.express.listen(0, '127.0.0.1')).port;
  });

  after(async () => {
    await Promise.all([pair.fast.close(), pair.express.close()]);
    await sidecar.stop();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * The same request to both servers, asked again if a poll published a new
   * decision in between: the report carries probe timings, so two decisions
   * can differ in their bytes. Both servers see every retry, so the request
   * metrics still match.
   */
  const askBoth = async (method: string, path: string): Promise<{ fromFast: Answer; fromExpress: Answer }> => {
    for (let attempt = 1; ; attempt += 1) {
      const decided = sidecar.state.current;
      const fromExpress = await request(pair.expressPort, method, path);
      const fromFast = await request(pair.fastPort, method, path);
      if (sidecar.state.current === decided) return { fromFast, fromExpress };
      if (attempt === 20) throw new Error(`${method} ${path}: a new decision landed between the two requests 20 times in a row`);
    }
  };

  const compareAll = async (): Promise<void> => {
    for (const path of PATHS) {
      for (const method of METHODS) {
        const { fromFast, fromExpress } = await askBoth(method, path);
        assert.deepEqual(fromFast, fromExpress, `${method} ${path}`);
        if (method === 'POST') assert.equal(fromFast.status, 404, `${method} ${path}`);
      }
    }
    // Two registries count different requests, so only the envelope of a scrape can match.
    for (const path of ['/metrics', '/Metrics/']) {
      for (const method of METHODS) {
        const fromExpress = await request(pair.expressPort, method, path);
        const fromFast = await request(pair.fastPort, method, path);
        const envelope = ({ status, headers }: Answer): unknown[] => [status, headers['content-type'], headers['cache-control']];
        assert.deepEqual(envelope(fromFast), envelope(fromExpress), `${method} ${path}`);
        if (method === 'GET') assert.match(fromFast.body, /^# HELP /m);
      }
    }
  };

  void it('holds health checks until the first decision, on both paths alike', async () => {
    const held = Promise.all([request(pair.fastPort, 'GET', '/signal/health'), request(pair.expressPort, 'GET', '/signal/health')]);
    await sidecar.start();
    const [fromFast, fromExpress] = await held;
    assert.deepEqual(fromFast, fromExpress);
    assert.equal(fromFast.status, 200);
    assert.deepEqual(await requestMetrics(pair.fastMetrics), await requestMetrics(pair.expressMetrics));
  });

  void it('answers every route and method alike while healthy', async () => {
    assert.equal(sidecar.state.current?.healthy, true);
    await compareAll();
    assert.deepEqual(await requestMetrics(pair.fastMetrics), await requestMetrics(pair.expressMetrics));
  });

  void it('answers every route and method alike while unhealthy', async () => {
    node.set('jicofoHealth', REPLIES.jicofoHardDown());
    await waitFor('unhealthy', () => (sidecar.state.current?.healthy === false ? true : undefined));
    await compareAll();
    const lines = await requestMetrics(pair.fastMetrics);
    assert.deepEqual(lines, await requestMetrics(pair.expressMetrics));
    assert.ok(lines.some((line) => line.startsWith('http_server_requests_total{method="HEAD",code="503",uri="/signal/report"}')), lines.join('\n'));
    assert.ok(lines.includes('http_server_requests_in_flight 0'), lines.join('\n'));
  });
});
