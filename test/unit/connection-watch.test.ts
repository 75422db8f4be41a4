import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { FRESH_WATCH, plan, targetOf, watchConnection, watchTiming, type ConnectionWatch, type WatchCount, type WatchEvent, type WatchMemory, type WatchTiming } from '../../src/react/connection-watch';
import { waitFor } from '../helpers/daemon';

const TIMING = watchTiming(5000);

/** What an upstream does with one connection attempt made at `at`: refuse it, or accept it and close it at `closesAt`. */
type Outcome = { readonly refused: true } | { readonly refused: false; readonly closesAt: number };

interface Run {
  readonly probes: number[];
  readonly attempts: number[];
}

/**
 * Carries out `plan` against a simulated upstream on a simulated clock, the
 * way watchConnection does on a socket, until `endMs`.
 */
function simulate(upstream: (at: number) => Outcome, endMs: number, timing = TIMING): Run {
  const run: Run = { probes: [], attempts: [] };
  let memory: WatchMemory = FRESH_WATCH;
  let queue: { at: number; what: 'connect' | 'probe' | WatchEvent }[] = [];
  const apply = (event: WatchEvent, now: number): void => {
    const next = plan(memory, event, now, timing);
    memory = next.memory;
    if (next.dropPending) queue = queue.filter((item) => item.what !== 'probe');
    if (next.probeAt !== null) queue.push({ at: next.probeAt, what: 'probe' });
    if (next.connectAt !== null) queue = [...queue.filter((item) => item.what !== 'connect'), { at: next.connectAt, what: 'connect' }];
  };
  apply('start', 0);
  for (let steps = 0; steps < 100_000; steps += 1) {
    queue.sort((a, b) => a.at - b.at);
    const next = queue.shift();
    if (next === undefined || next.at > endMs) break;
    if (next.what === 'probe') run.probes.push(next.at);
    else if (next.what === 'connect') {
      run.attempts.push(next.at);
      const outcome = upstream(next.at);
      queue.push(outcome.refused ? { at: next.at + 0.2, what: 'failed' } : { at: Math.max(next.at, outcome.closesAt), what: 'closed' });
    } else apply(next.what, next.at);
  }
  return run;
}

/** The most events that fall inside any window of `windowMs`. */
function busiest(times: readonly number[], windowMs: number): number {
  let most = 0;
  for (const [i, start] of times.entries()) most = Math.max(most, times.slice(i).filter((at) => at < start + windowMs).length);
  return most;
}

/** The memory after `events`, each at its time, from a fresh watch. */
function memoryAfter(...events: [WatchEvent, number][]): WatchMemory {
  return events.reduce((memory, [event, at]) => plan(memory, event, at, TIMING).memory, FRESH_WATCH);
}

describe('connection watch: when to probe and when to connect', () => {
  it('retries a failed attempt at the polling interval, never more often than once a second', () => {
    assert.deepEqual(watchTiming(5000), { gapMs: 1000, retryMs: 5000 });
    assert.deepEqual(watchTiming(100), { gapMs: 1000, retryMs: 1000 });
  });

  it('connects at start, and asks for no probe', () => {
    const next = plan(FRESH_WATCH, 'start', 1000, TIMING);
    assert.equal(next.connectAt, 1000);
    assert.equal(next.probeAt, null);
  });

  it('a close asks for a probe at once and connects again at once', () => {
    const next = plan(memoryAfter(['start', 0]), 'closed', 30_000, TIMING);
    assert.equal(next.probeAt, 30_000);
    assert.equal(next.connectAt, 30_000);
    assert.equal(next.dropPending, false);
  });

  it('a second close within a second waits for the gap; a third joins it', () => {
    const second = plan(memoryAfter(['start', 0], ['closed', 10_000]), 'closed', 10_300, TIMING);
    assert.equal(second.probeAt, 11_000);
    const third = plan(second.memory, 'closed', 10_600, TIMING);
    assert.equal(third.probeAt, null, 'the pending probe stands for it');
  });

  it('a refused attempt asks for no probe and waits for the retry interval', () => {
    const refused = plan(memoryAfter(['start', 0], ['closed', 10_000]), 'failed', 10_001, TIMING);
    assert.equal(refused.probeAt, null);
    assert.equal(refused.connectAt, 15_000);
    const again = plan(refused.memory, 'failed', 15_001, TIMING);
    assert.equal(again.connectAt, 20_000);
  });

  it('an idle close, then a crash within the second: the refused attempt probes at once', () => {
    const crash = plan(memoryAfter(['start', 0], ['closed', 30_000]), 'closed', 30_400, TIMING);
    assert.equal(crash.probeAt, 31_000, 'deferred: it may be one more idle close');
    assert.equal(crash.connectAt, 30_400, 'the second attempt of this second goes at once');
    const refused = plan(crash.memory, 'failed', 30_401, TIMING);
    assert.equal(refused.probeAt, 30_401);
    assert.equal(refused.dropPending, true);
  });

  it('a probe that succeeds while a retry is waited out connects at once; while connected it changes nothing', () => {
    const restarted = plan(memoryAfter(['start', 0], ['closed', 10_000], ['failed', 10_001]), 'answered', 12_000, TIMING);
    assert.equal(restarted.connectAt, 12_000, 'instead of at 15 000');
    assert.equal(restarted.probeAt, null);
    assert.equal(plan(restarted.memory, 'answered', 12_000, TIMING).connectAt, null, 'already planned');
    const open = plan(memoryAfter(['start', 0]), 'answered', 5000, TIMING);
    assert.equal(open.connectAt, null);
  });

  it('an answer just after a refused attempt waits for the gap: still two attempts a second at most', () => {
    const restarted = plan(memoryAfter(['start', 0], ['closed', 10_000], ['failed', 10_001]), 'answered', 10_002, TIMING);
    assert.equal(restarted.connectAt, 11_000);
  });

  it('an upstream that closes every connection after 200 ms for a minute: at most one probe a second, two attempts a second', () => {
    const run = simulate((at) => ({ refused: false, closesAt: at + 200 }), 60_000);
    assert.ok(busiest(run.probes, 1000) <= 1, `probes ${run.probes.slice(0, 10).join(', ')}`);
    assert.ok(busiest(run.attempts, 1000) <= 2);
    assert.ok(run.probes.length >= 50, `every close is probed within a second: ${run.probes.length} probes`);
  });

  it('an upstream that accepts and closes at once: no tight loop either', () => {
    const run = simulate((at) => ({ refused: false, closesAt: at }), 10_000);
    assert.ok(run.attempts.length <= 2 * 10 + 2, `${run.attempts.length} attempts in 10 s`);
    assert.ok(run.probes.length <= 10 + 1, `${run.probes.length} probes in 10 s`);
  });

  it('a refused upstream is dialled at the polling interval and never probed by the watch', () => {
    const run = simulate(() => ({ refused: true }), 60_000);
    assert.equal(run.probes.length, 0);
    assert.equal(run.attempts.length, 60_000 / 5000 + 1);
  });

  it('a crash is probed the moment it closes the connection; the watch is back once the upstream is', () => {
    // Jetty's idle timeout (30 s); killed at 42.5 s; systemd has it listening again at 50 s.
    const crashAt = 42_500;
    const backAt = 50_000;
    const upstream = (at: number): Outcome => {
      if (at >= crashAt && at < backAt) return { refused: true };
      const idleClose = at + 30_000;
      return { refused: false, closesAt: at < crashAt && idleClose > crashAt ? crashAt : idleClose };
    };
    const run = simulate(upstream, 70_000);
    assert.deepEqual(run.probes.filter((at) => at <= backAt), [30_000, crashAt]);
    const whileDown = run.attempts.filter((at) => at > crashAt && at < backAt);
    assert.ok(whileDown.length <= (backAt - crashAt) / TIMING.retryMs + 1, `attempts while down: ${whileDown.join(', ')}`);
    assert.ok(run.attempts.some((at) => at >= backAt && at <= backAt + TIMING.retryMs), 'connected again within one retry');
  });
});

/** A watch on a loopback port that counts the probes it asks for and what it does. */
function counting(port: number, timing: WatchTiming): { seen: { probes: number; counts: WatchCount[] }; watch: ConnectionWatch } {
  const seen = { probes: 0, counts: [] as WatchCount[] };
  const watch = watchConnection({ host: '127.0.0.1', port }, {
    timing,
    connectTimeoutMs: 1000,
    now: () => performance.now(),
    probe: () => (seen.probes += 1),
    counted: (event) => seen.counts.push(event),
  });
  return { seen, watch };
}

describe('connection watch on a socket', () => {
  it('reads host and port from an origin', () => {
    assert.deepEqual(targetOf('http://localhost:8888'), { host: 'localhost', port: 8888 });
    assert.deepEqual(targetOf('https://meet.example.com/jicofo'), { host: 'meet.example.com', port: 443 });
    assert.deepEqual(targetOf('http://[::1]:5280'), { host: '::1', port: 5280 });
    assert.deepEqual(targetOf('http://10.0.0.2'), { host: '10.0.0.2', port: 80 });
  });

  it('a server closing, resetting or writing to the held connection asks for one probe each, and it connects again', async () => {
    const held: net.Socket[] = [];
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      held.push(socket);
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as net.AddressInfo;
    // A gap of 0 lets the three closes follow each other without waiting a second each.
    const { seen, watch } = counting(port, { gapMs: 0, retryMs: 0 });
    const connection = (n: number): Promise<net.Socket> => waitFor(`connection ${n}`, () => held[n - 1], 5000, 5);
    const probed = (n: number): Promise<true> => waitFor(`probe ${n}`, () => (seen.probes >= n ? true : undefined), 5000, 5);
    try {
      (await connection(1)).end();
      await probed(1);
      (await connection(2)).resetAndDestroy();
      await probed(2);
      (await connection(3)).write('HTTP/1.1 408 Request Timeout\r\n\r\n');
      await probed(3);
      await connection(4);
      await waitFor('the fourth connect', () => (seen.counts.length >= 7 ? true : undefined), 5000, 5);
      assert.equal(seen.probes, 3);
      assert.deepEqual(seen.counts, ['connected', 'closed', 'connected', 'closed', 'connected', 'closed', 'connected']);
    } finally {
      watch.close();
      for (const socket of held) socket.destroy();
      await new Promise((done) => server.close(done));
    }
  });

  it('a refused port counts as failed and asks for no probe', async () => {
    const probe = net.createServer();
    await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise((done) => probe.close(done));
    const { seen, watch } = counting(port, { gapMs: 1000, retryMs: 60_000 });
    try {
      await waitFor('the refused attempt', () => (seen.counts.length > 0 ? true : undefined), 5000, 5);
      assert.deepEqual(seen.counts, ['failed']);
      assert.equal(seen.probes, 0);
    } finally {
      watch.close();
    }
  });
});
