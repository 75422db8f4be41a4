import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { Endpoint } from '../../src/demo/fake-signal-node';
import { agentAnswer, freePort, get, report, sleep, startAgainst, startDaemon, untilHealthy, verdict, waitFor, type Daemon } from '../helpers/daemon';
import { UpstreamProcess, type UpstreamOptions } from '../helpers/upstream-process';
import { agentLines, probes, watchEvents, watching } from '../helpers/watch';

/**
 * The connection watch against upstreams in processes of their own: killed
 * with -9, closing idle connections on a short timeout, or not there at all.
 * Counts probes and log lines; the timing is measured by `npm run bench`.
 */

/** Long enough that no scheduled poll falls inside a test after the first one. */
const NO_SECOND_POLL = { POLLING_INTERVAL: '60', PROBE_TIMEOUT: '1' };

const running: { stop(): Promise<unknown> }[] = [];

async function upstreams(options: UpstreamOptions = {}): Promise<{ jicofo: UpstreamProcess; prosody: UpstreamProcess }> {
  const [jicofo, prosody] = await Promise.all([UpstreamProcess.start('jicofo', 0, options), UpstreamProcess.start('prosody', 0, options)]);
  running.push(jicofo, prosody);
  return { jicofo, prosody };
}

async function sidecar(origins: { jicofoOrigin: string; prosodyOrigin: string }, env: Record<string, string>): Promise<Daemon> {
  const daemon = await startAgainst(origins, env);
  running.push(daemon);
  return daemon;
}

const stateChanges = (daemon: Daemon, from: number): Record<string, unknown>[] =>
  daemon.logs().slice(from).filter((line) => line.message === 'signal node state changed');

describe('connection watch', () => {
  afterEach(async () => {
    await Promise.all(running.splice(0).map((one) => one.stop()));
  });

  for (const [killed, other, reason] of [
    ['jicofo', 'prosody', /^jicofo health unreachable/],
    ['prosody', 'jicofo', /^prosody unreachable/],
  ] as const) {
    it(`kill -9 of ${killed}: down from one extra probe of it, logged once, with the next poll a minute away`, async () => {
      const upstream = await upstreams();
      const daemon = await sidecar({ jicofoOrigin: upstream.jicofo.origin, prosodyOrigin: upstream.prosody.origin }, NO_SECOND_POLL);
      await untilHealthy(daemon.httpPort);
      await watching(daemon, killed);
      const killedSource = killed === 'jicofo' ? 'jicofo_health' : 'prosody';
      const otherSource = other === 'jicofo' ? 'jicofo_health' : 'prosody';
      const before = {
        killed: await probes(daemon, killedSource),
        other: await probes(daemon, otherSource),
        lines: daemon.lines.length,
        connected: await watchEvents(daemon, killed, 'connected'),
      };

      await upstream[killed].kill('SIGKILL');
      // Bounded far below the interval: only the watch can make it.
      await waitFor('the agent to say down', async () => (verdict(await agentAnswer(daemon.agentPort)).startsWith('down ') ? true : undefined), 20_000);

      assert.equal((await get(daemon.httpPort, '/signal/health')).status, 503);
      assert.equal(await probes(daemon, killedSource), before.killed + 1, 'one probe, asked for by the closed connection');
      assert.equal(await probes(daemon, otherSource), before.other, `${other} is not probed`);
      const changes = stateChanges(daemon, before.lines);
      assert.equal(changes.length, 1, JSON.stringify(changes));
      assert.match(String((changes[0]?.reasons as string[])[0]), reason);
      await waitFor('the reconnect to be refused', async () => ((await watchEvents(daemon, killed, 'failed')) >= 1 ? true : undefined));
      // The kernel may close the watched connection before the dying
      // process's listening socket (it closes the files in descriptor order),
      // so the watch's immediate reconnect can still be taken, then reset:
      // each connection is closed once, and a reconnect is made at most once.
      const reconnected = (await watchEvents(daemon, killed, 'connected')) - before.connected;
      assert.ok(reconnected <= 1, `${reconnected} reconnects into the dying process`);
      assert.equal(await watchEvents(daemon, killed, 'closed'), 1 + reconnected);
      assert.equal((await report(daemon.httpPort)).healthy, false);
    });
  }

  it('CONNECTION_WATCH=false: the same kill waits for the next poll, and nothing is held open', async () => {
    const upstream = await upstreams();
    const daemon = await sidecar({ jicofoOrigin: upstream.jicofo.origin, prosodyOrigin: upstream.prosody.origin }, { ...NO_SECOND_POLL, CONNECTION_WATCH: 'false' });
    await untilHealthy(daemon.httpPort);
    const before = await probes(daemon, 'jicofo_health');
    await upstream.jicofo.kill('SIGKILL');
    await sleep(1500);
    assert.equal(verdict(await agentAnswer(daemon.agentPort)), 'up ready 100%\n');
    assert.equal(await probes(daemon, 'jicofo_health'), before);
    assert.doesNotMatch((await get(daemon.httpPort, '/metrics')).body, /signal_connection_watch_events_total\{/);
  });

  it('upstreams closing idle connections every 400 ms: no flap, no log line, at most one extra probe per source per second', async () => {
    const started = performance.now();
    const upstream = await upstreams({ idleTimeoutMs: 400 });
    const daemon = await sidecar({ jicofoOrigin: upstream.jicofo.origin, prosodyOrigin: upstream.prosody.origin }, NO_SECOND_POLL);
    await untilHealthy(daemon.httpPort);
    const lines = daemon.lines.length;
    const answers = await agentLines(daemon, 100);
    const seconds = (performance.now() - started) / 1000;
    const counts: Partial<Record<Endpoint, number>> = {
      jicofoHealth: await upstream.jicofo.count('jicofoHealth'),
      jicofoStats: await upstream.jicofo.count('jicofoStats'),
      prosody: await upstream.prosody.count('prosody'),
    };
    // The first poll, then one probe per close at most once a second.
    const most = Math.floor(seconds) + 2;
    for (const [endpoint, count] of Object.entries(counts)) {
      assert.ok(count >= 3, `${endpoint}: ${count} requests; the watch should have probed on the idle closes`);
      assert.ok(count <= most, `${endpoint}: ${count} requests in ${seconds.toFixed(1)} s (at most ${most})`);
    }
    assert.deepEqual(answers, ['up ready 100%\n']);
    assert.deepEqual(daemon.lines.slice(lines), [], 'no log line');
    assert.ok((await watchEvents(daemon, 'jicofo', 'closed')) >= 3);
    assert.ok((await watchEvents(daemon, 'prosody', 'closed')) >= 3);
    assert.equal((await report(daemon.httpPort)).healthy, true);
  });

  it('a refused upstream is not dialled in a loop, and is watched once it listens', async () => {
    const port = await freePort();
    const prosody = await UpstreamProcess.start('prosody');
    running.push(prosody);
    const started = performance.now();
    const daemon = await sidecar({ jicofoOrigin: `http://127.0.0.1:${port}`, prosodyOrigin: prosody.origin }, { POLLING_INTERVAL: '2', PROBE_TIMEOUT: '1' });
    await untilHealthy(daemon.httpPort, false);
    const lines = daemon.lines.length;
    await sleep(4000);
    const seconds = (performance.now() - started) / 1000;
    const failed = await watchEvents(daemon, 'jicofo', 'failed');
    assert.ok(failed >= 1, 'the watch tried');
    assert.ok(failed <= Math.floor(seconds / 2) + 2, `${failed} attempts in ${seconds.toFixed(1)} s at a 2 s retry`);
    assert.equal(await watchEvents(daemon, 'jicofo', 'connected'), 0);
    assert.ok((await probes(daemon, 'jicofo_health')) <= Math.floor(seconds / 2) + 2, 'only the scheduled polls probe it');
    assert.deepEqual(daemon.lines.slice(lines), [], 'a steady failure logs nothing more');

    const jicofo = await UpstreamProcess.start('jicofo', port);
    running.push(jicofo);
    await untilHealthy(daemon.httpPort, true, 15_000);
    await watching(daemon, 'jicofo');
  });
  it('a reload to another jicofo moves the watch there: a crash of the old one is no news, of the new one it is', async () => {
    const upstream = await upstreams();
    const next = await UpstreamProcess.start('jicofo');
    running.push(next);
    const dir = mkdtempSync(join(tmpdir(), 'watch-reload-'));
    const file = join(dir, 'config');
    const settings = (jicofo: string): string => `JICOFO_ORIG=${jicofo}\nPROSODY_ORIG=${upstream.prosody.origin}\nPOLLING_INTERVAL=60\nPROBE_TIMEOUT=1\n`;
    try {
      writeFileSync(file, settings(upstream.jicofo.origin));
      // The origins only in the file: the environment would win over it.
      const daemon = await startDaemon({ CONFIG_FILE: file }, { status: 'ready' });
      running.push(daemon);
      await untilHealthy(daemon.httpPort);
      await watching(daemon, 'jicofo');

      writeFileSync(file, settings(next.origin));
      const from = daemon.lines.length;
      daemon.child.kill('SIGHUP');
      await waitFor('the reload', () => (daemon.logs().slice(from).some((line) => String(line.message).startsWith('configuration reloaded: JICOFO_ORIG')) ? true : undefined));
      await watching(daemon, 'jicofo', 2);

      const before = await probes(daemon, 'jicofo_health');
      await upstream.jicofo.kill('SIGKILL');
      await sleep(1500);
      assert.equal(verdict(await agentAnswer(daemon.agentPort)), 'up ready 100%\n', 'the old jicofo is no longer watched');
      assert.equal(await probes(daemon, 'jicofo_health'), before);

      await next.kill('SIGKILL');
      await waitFor('the agent to say down', async () => (verdict(await agentAnswer(daemon.agentPort)).startsWith('down ') ? true : undefined), 20_000);
      assert.equal(await probes(daemon, 'jicofo_health'), before + 1, 'one probe, asked for by the new watch');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
