import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FakeSignalNode } from '../../src/demo/fake-signal-node';
import { agentAnswer, processUsage, sleep, startAgainst, untilHealthy, waitFor, type Daemon } from '../helpers/daemon';
import { HEALTH_P99_MS, connect, percentile, sampleHealth, table } from '../helpers/load';

const WELL_BEHAVED = 2000;
const EACH_KIND_OF_BAD = 200;
/** The agent drops a client that keeps its socket after the line within 5 s; this leaves room for a loaded machine. */
const SOCKETS_RELEASED_WITHIN_MS = 15_000;

describe('agent under 2,000 concurrent connections and misbehaving clients', () => {
  const fake = new FakeSignalNode();
  let daemon: Daemon;
  const bad: net.Socket[] = [];
  const timers: NodeJS.Timeout[] = [];

  before(async () => {
    await fake.start();
    // The fake signal node shares this process with the flood's clients, so
    // probes get the production deadline (3 s), not QUICK's half second.
    daemon = await startAgainst(fake, { POLLING_INTERVAL: '1', PROBE_TIMEOUT: '3' });
    await untilHealthy(daemon.httpPort);
  });
  after(async () => {
    for (const timer of timers) clearInterval(timer);
    for (const socket of bad) socket.destroy();
    await daemon.stop();
    await fake.stop();
  });

  it('answers every well-behaved client while others send junk, never read, or never close; then holds no socket', async () => {
    const pid = daemon.child.pid ?? 0;
    await sleep(500);
    const baseline = processUsage(pid);
    const health = sampleHealth(daemon.httpPort);

    // Never read, never close: the line sits in their receive buffer.
    for (let i = 0; i < EACH_KIND_OF_BAD; i += 1) {
      const socket = await connect(daemon.agentPort, { halfOpen: true });
      socket.pause();
      bad.push(socket);
    }
    // Read, then keep the socket alive by sending a byte every 500 ms.
    for (let i = 0; i < EACH_KIND_OF_BAD; i += 1) {
      const socket = await connect(daemon.agentPort, { halfOpen: true });
      socket.resume();
      timers.push(setInterval(() => socket.writable && socket.write('.'), 500));
      bad.push(socket);
    }
    // Send 64 KiB of junk and expect the line all the same.
    const junkSenders = Array.from({ length: EACH_KIND_OF_BAD }, async () => {
      const socket = await connect(daemon.agentPort);
      bad.push(socket);
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      socket.write(Buffer.alloc(64 * 1024, 0xff));
      await waitFor('a line for a junk sender', () => (text.includes('\n') ? true : undefined), 20_000);
      return text;
    });

    const started = performance.now();
    const answers = await Promise.all([
      ...Array.from({ length: WELL_BEHAVED }, () => agentAnswer(daemon.agentPort, 20_000)),
      ...junkSenders,
    ]);
    const floodMs = performance.now() - started;
    const wrong = answers.filter((line) => line !== 'up ready 100%\n');
    assert.equal(wrong.length, 0, `${wrong.length} clients got something else, e.g. ${JSON.stringify(wrong[0])}`);
    const peak = processUsage(pid);

    // The misbehaving clients are still connected: the agent must let go of them.
    const released = await waitFor(
      'the agent to drop lingering clients',
      () => {
        const now = processUsage(pid);
        return now.fds <= baseline.fds + 2 ? now : undefined;
      },
      SOCKETS_RELEASED_WITHIN_MS,
      250,
    );
    const latencies = health.take();
    await health.stop();
    assert.equal(health.failures, 0);

    process.stdout.write(
      `\n${table(
        ['agent flood', 'value'],
        [
          ['well-behaved clients answered', `${WELL_BEHAVED - wrong.length}/${WELL_BEHAVED} in ${Math.round(floodMs)} ms`],
          ['junk senders answered', `${EACH_KIND_OF_BAD}/${EACH_KIND_OF_BAD}`],
          ['daemon fds baseline / peak / after', `${baseline.fds} / ${peak.fds} / ${released.fds}`],
          ['daemon RSS MiB baseline / peak / after', `${(baseline.rssKiB / 1024).toFixed(1)} / ${(peak.rssKiB / 1024).toFixed(1)} / ${(released.rssKiB / 1024).toFixed(1)}`],
          ['/health p50 / p99 / max ms', `${percentile(latencies, 50).toFixed(1)} / ${percentile(latencies, 99).toFixed(1)} / ${Math.max(...latencies).toFixed(1)} (${latencies.length} requests)`],
        ],
      )}\n`,
    );
    assert.ok(percentile(latencies, 99) < HEALTH_P99_MS, `/health p99 ${percentile(latencies, 99)} ms`);
  });
});
