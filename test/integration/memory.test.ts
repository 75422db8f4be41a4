import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode, REPLIES, answer } from '../../src/demo/fake-signal-node';
import { PLAIN_LAUNCH, get, startDaemon, untilHealthy, waitFor, type Daemon } from '../helpers/daemon';

const MiB = 1024 * 1024;
const REQUESTS = 20_000;
const CLIENTS = 16;

/** `count` GETs of `path`, `clients` at a time over keep-alive connections. */
async function burst(port: number, path: string, count: number, clients: number): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((done, fail) => {
      http
        .get({ host: '127.0.0.1', port, path, agent }, (res) => {
          res.resume();
          res.once('end', done);
        })
        .once('error', fail);
    });
  const loop = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      await one();
    }
  };
  await Promise.all(Array.from({ length: clients }, loop));
  agent.destroy();
}

const youngGeneration = async (port: number): Promise<number> =>
  Number(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)/m.exec((await get(port, '/metrics')).body)?.[1]);

const countOf = (daemon: Daemon, message: string): number => daemon.logs().filter((line) => line.message === message).length;

/**
 * Started as plain `node dist/app.js` (no --max-semi-space-size, no
 * --expose-gc, no MALLOC_ARENA_MAX), the daemon holds its heap the way the
 * unit's flags do. Sizes read from its own /metrics, not timed.
 */
void describe('memory when started as plain node dist/app.js', () => {
  const fake = new FakeSignalNode();
  /** Polls every 0.1 s: 1 MiB jicofo bodies arrive ten times a second. */
  let busy: Daemon;
  /**
   * Polls at the default rate. Quiet is a second under a quarter busy, and
   * polling ten times a second alone keeps the loop 12 to 26 % busy on a
   * shared machine: the trims are watched where the quiet is not marginal.
   */
  let idle: Daemon;

  before(async () => {
    await fake.start();
    const upstreams = { JICOFO_ORIG: fake.jicofoOrigin, PROSODY_ORIG: fake.prosodyOrigin, LOG_LEVEL: 'debug' };
    [busy, idle] = await Promise.all([
      startDaemon({ ...upstreams, POLLING_INTERVAL: '0.1', PROBE_TIMEOUT: '3' }, { status: 'ready', launch: PLAIN_LAUNCH }),
      startDaemon(upstreams, { status: 'ready', launch: PLAIN_LAUNCH }),
    ]);
    await Promise.all([untilHealthy(busy.httpPort), untilHealthy(idle.httpPort)]);
  });
  after(async () => {
    await Promise.all([busy.stop(), idle.stop()]);
    await fake.stop();
  });

  it('keeps the young generation at 4 MiB through a burst of requests and 1 MiB jicofo bodies', async () => {
    fake.set('jicofoHealth', answer(200, 'All good. '.repeat(100 * 1024), 'text/plain'));
    try {
      await burst(busy.httpPort, '/signal/report', REQUESTS, CLIENTS);
      const young = await youngGeneration(busy.httpPort);
      assert.ok(young <= 4 * MiB, `young generation ${young / MiB} MiB after ${REQUESTS} requests`);
    } finally {
      fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    }
  });

  it('runs full collections after a burst without --expose-gc', async () => {
    assert.ok(idle.logs().some((line) => line.message === 'heap trim on: full collections on the first quiet second after the heap grew'));
    const trims = countOf(idle, 'heap trimmed after a busy spell');
    // Rendering /metrics grows the heap by about 10 MiB, well past the trim's 4 MiB slack; /signal/report by 1 to 2.
    await burst(idle.httpPort, '/metrics', REQUESTS, CLIENTS);
    await waitFor('a heap trim after the burst', () => (countOf(idle, 'heap trimmed after a busy spell') > trims ? true : undefined), 30_000, 100);
  });

  it('once the quiet lasts, gives the young generation back too', async () => {
    // V8 shrinks the young generation only when little was allocated over the last 5 s.
    const settled = countOf(idle, 'heap settled after a busy spell');
    await burst(idle.httpPort, '/signal/report', REQUESTS, CLIENTS);
    assert.equal(await youngGeneration(idle.httpPort), 4 * MiB, 'grown to its bound by the burst');
    await waitFor('the heap to settle', () => (countOf(idle, 'heap settled after a busy spell') > settled ? true : undefined), 30_000, 100);
    const young = await youngGeneration(idle.httpPort);
    assert.ok(young < 4 * MiB, `young generation ${young / MiB} MiB once settled`);
  });
});
