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

/**
 * Started as plain `node dist/app.js` (no --max-semi-space-size, no
 * --expose-gc, no MALLOC_ARENA_MAX), the daemon holds its heap the way the
 * unit's flags do. Sizes read from its own /metrics, not timed.
 */
void describe('memory when started as plain node dist/app.js', () => {
  const fake = new FakeSignalNode();
  let daemon: Daemon;

  before(async () => {
    await fake.start();
    daemon = await startDaemon(
      { JICOFO_ORIG: fake.jicofoOrigin, PROSODY_ORIG: fake.prosodyOrigin, POLLING_INTERVAL: '0.1', PROBE_TIMEOUT: '3', LOG_LEVEL: 'debug' },
      { status: 'ready', launch: PLAIN_LAUNCH },
    );
    await untilHealthy(daemon.httpPort);
  });
  after(async () => {
    await daemon.stop();
    await fake.stop();
  });

  it('keeps the young generation at 4 MiB through a burst of requests and 1 MiB jicofo bodies', async () => {
    fake.set('jicofoHealth', answer(200, 'All good. '.repeat(100 * 1024), 'text/plain'));
    try {
      await burst(daemon.httpPort, '/signal/report', REQUESTS, CLIENTS);
      const young = await youngGeneration(daemon.httpPort);
      assert.ok(young <= 4 * MiB, `young generation ${young / MiB} MiB after ${REQUESTS} requests`);
    } finally {
      fake.set('jicofoHealth', REPLIES.jicofoHealthy());
    }
  });

  it('runs full collections after a burst without --expose-gc', async () => {
    assert.ok(daemon.logs().some((line) => line.message === 'heap trim on: full collections on the first quiet second after the heap grew'));
    const before = daemon.logs().filter((line) => line.message === 'heap trimmed after a busy spell').length;
    await burst(daemon.httpPort, '/signal/report', REQUESTS, CLIENTS);
    await waitFor('a heap trim after the burst', () =>
      daemon.logs().filter((line) => line.message === 'heap trimmed after a busy spell').length > before ? true : undefined, 30_000, 100);
  });

  it('once the quiet lasts, gives the young generation back too', async () => {
    // Polling at the default rate: V8 shrinks the young generation only when little was allocated over the last 5 s.
    const idle = await startDaemon(
      { JICOFO_ORIG: fake.jicofoOrigin, PROSODY_ORIG: fake.prosodyOrigin, LOG_LEVEL: 'debug' },
      { status: 'ready', launch: PLAIN_LAUNCH },
    );
    try {
      await untilHealthy(idle.httpPort);
      await burst(idle.httpPort, '/signal/report', REQUESTS, CLIENTS);
      assert.equal(await youngGeneration(idle.httpPort), 4 * MiB, 'grown to its bound by the burst');
      await waitFor('the heap to settle', () => (idle.logs().some((line) => line.message === 'heap settled after a busy spell') ? true : undefined), 30_000, 100);
      const young = await youngGeneration(idle.httpPort);
      assert.ok(young < 4 * MiB, `young generation ${young / MiB} MiB once settled`);
    } finally {
      await idle.stop();
    }
  });
});
