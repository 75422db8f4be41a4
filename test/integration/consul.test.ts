import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeStatusFile } from '../../src/collect/status-file';
import { ConsulAgent, consulBinary } from '../helpers/consul';
import { agentAnswer, agentSays, get, QUICK, report, sleep, startDaemon, verdict, waitFor, type Daemon } from '../helpers/daemon';
import { daemonSuite } from '../helpers/daemon-suite';

/**
 * The status watch through the built daemon against a real Consul (Debian
 * 11's 1.8.7): every rule of the contract's *Consul KV* section. Polling is
 * set to a minute, so anything that arrives within seconds came through the
 * watch, not the poll.
 */

const KEY = 'shard-states/prod/shard1';
const SLOW_POLL = { ...QUICK, POLLING_INTERVAL: '60' };

const binary = consulBinary();
const skip = 'skip' in binary ? binary.skip : undefined;

describe('Consul status watch through the daemon', { skip }, () => {
  const suite = daemonSuite('consul-watch-');
  let consul: ConsulAgent;
  let path = '';

  before(async () => {
    if ('path' in binary) path = binary.path;
    consul = await ConsulAgent.start(path);
  });
  after(async () => {
    await consul.kill();
  });

  /** `status` is written to STATUS_PATH first; null leaves the file as the test made it. */
  const start = async (env: Record<string, string> = {}, status: string | null = 'ready\n', options: Parameters<typeof startDaemon>[1] = {}): Promise<Daemon> => {
    suite.daemon = await startDaemon(
      {
        ...SLOW_POLL,
        JICOFO_ORIG: suite.fake.jicofoOrigin,
        PROSODY_ORIG: suite.fake.prosodyOrigin,
        CONSUL_STATUS: 'true',
        CONSUL_HOST: '127.0.0.1',
        CONSUL_PORT: String(consul.httpPort),
        CONSUL_STATUS_KEY: KEY,
        ...env,
      },
      { ...(status === null ? {} : { status }), ...options },
    );
    return suite.daemon;
  };
  const logged = (daemon: Daemon, text: string): number => daemon.lines.filter((line) => line.includes(text)).length;
  /** The watch keeps the word in the file just after it applies it. */
  const fileSays = (file: string, word: string): Promise<true> =>
    waitFor(`${word} in ${file}`, () => (readFileSync(file, 'utf8') === `${word}\n` ? true : undefined), 5000);

  it('a write in Consul is on the agent line and /signal/health long before any poll, and kept in STATUS_PATH', async () => {
    await consul.put(KEY, 'ready');
    const daemon = await start();
    await agentSays(daemon, 'up ready 100%\n');
    for (const [word, line] of [['drain', 'up drain 0%\n'], ['maint', 'up maint 0%\n'], ['ready', 'up ready 100%\n']] as const) {
      await consul.put(KEY, word);
      await agentSays(daemon, line, 10_000);
      await fileSays(daemon.statusFile, word);
    }
    await consul.put(KEY, 'drain');
    await waitFor('/signal/health to say 200 with drain', async () => ((await report(daemon.httpPort)).status === 'drain' ? true : undefined));
    const body = await report(daemon.httpPort);
    assert.equal(body.statuses.statusFileContents, 'drain');
    assert.equal((body.statuses as Record<string, unknown>).statusSource, 'consul');
    assert.deepEqual((body.consul as Record<string, unknown>).reachable, true);
    assert.match(body.reasons.join(), /Consul key shard-states\/prod\/shard1 says drain/);
  });

  it('at start, Consul\'s word wins over the one kept in the file', async () => {
    await consul.put(KEY, 'maint');
    const daemon = await start({}, 'ready\n');
    await agentSays(daemon, 'up maint 0%\n');
    await fileSays(daemon.statusFile, 'maint');
  });

  it('the file is replaced in one step: a reader never sees it empty or half written', async () => {
    await consul.put(KEY, 'ready');
    const daemon = await start();
    await agentSays(daemon, 'up ready 100%\n');
    const seen = new Set<string>();
    let reading = true;
    const reader = (async () => {
      while (reading) {
        seen.add(readFileSync(daemon.statusFile, 'utf8'));
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    for (let i = 0; i < 30; i += 1) await consul.put(KEY, i % 2 === 0 ? 'drain' : 'ready');
    await fileSays(daemon.statusFile, 'ready');
    reading = false;
    await reader;
    // Which intermediate words a reader catches is timing; that it never catches anything else is not.
    assert.deepEqual([...seen].filter((text) => text !== 'drain\n' && text !== 'ready\n'), []);
    assert.ok(seen.has('ready\n'));
  });

  it('an operator\'s later write of the file wins until the next change in Consul', async () => {
    await consul.put(KEY, 'ready');
    const daemon = await start();
    await agentSays(daemon, 'up ready 100%\n');
    await sleep(20);
    await writeStatusFile(daemon.statusFile, 'drain');
    await agentSays(daemon, 'up drain 0%\n');
    assert.equal((await report(daemon.httpPort)).statuses.statusFileContents, 'drain');
    // Consul itself does not count a write of the value a key holds: it is no change, here either.
    await consul.put(KEY, 'ready');
    await sleep(300);
    assert.equal(verdict(await agentAnswer(daemon.agentPort)), 'up drain 0%\n');
    await consul.put(KEY, 'maint');
    await agentSays(daemon, 'up maint 0%\n');
    await fileSays(daemon.statusFile, 'maint');
  });

  it('an absent key leaves the file\'s word, logs once however many writes wake it, and applies once it is created', async () => {
    await consul.delete(KEY);
    const daemon = await start({}, 'drain\n');
    await agentSays(daemon, 'up drain 0%\n');
    // A watch on a missing key wakes on every KV write in the cluster.
    for (let i = 0; i < 20; i += 1) await consul.put(`other/key${i}`, 'x');
    await sleep(300);
    assert.equal(logged(daemon, 'Consul status key absent'), 1);
    assert.equal(verdict(await agentAnswer(daemon.agentPort)), 'up drain 0%\n');
    await consul.put(KEY, 'ready');
    await agentSays(daemon, 'up ready 100%\n');
  });

  it('a deleted key keeps the word in force and the file as they are, with one log line', async () => {
    await consul.put(KEY, 'maint');
    const daemon = await start();
    await agentSays(daemon, 'up maint 0%\n');
    await consul.delete(KEY);
    await waitFor('the deletion to be logged', () => (logged(daemon, 'Consul status key absent') === 1 ? true : undefined));
    for (let i = 0; i < 10; i += 1) await consul.put(`other/key${i}`, 'y');
    await sleep(300);
    assert.equal(verdict(await agentAnswer(daemon.agentPort)), 'up maint 0%\n');
    assert.equal(readFileSync(daemon.statusFile, 'utf8'), 'maint\n');
    assert.equal(logged(daemon, 'Consul status key absent'), 1);
    const consulView = (await report(daemon.httpPort)).consul as { status: { keyFound: boolean; value: string } };
    assert.deepEqual([consulView.status.keyFound, consulView.status.value], [false, 'maint']);
  });

  it('hostile values go through the status file\'s rules: unknown is sent as drain, unhealthy forces down', async () => {
    await consul.put(KEY, 'ready');
    const daemon = await start();
    await agentSays(daemon, 'up ready 100%\n');
    await consul.put(KEY, `<html>${'x'.repeat(100_000)}</html>`);
    await waitFor('status unknown', async () => ((await report(daemon.httpPort)).status === 'unknown' ? true : undefined));
    assert.match(verdict(await agentAnswer(daemon.agentPort)), /^up drain /);
    await consul.put(KEY, 'unhealthy');
    await waitFor('down', async () => (verdict(await agentAnswer(daemon.agentPort)).startsWith('down drain') ? true : undefined));
    assert.equal((await get(daemon.httpPort, '/signal/health')).status, 503);
    await consul.put(KEY, 'ready');
    await agentSays(daemon, 'up ready 100%\n');
  });

  it('a STATUS_PATH that is a link is written where it points, and stays a link', async () => {
    const dir = join(suite.scratch, 'linked');
    mkdirSync(join(dir, 'state'), { recursive: true });
    writeFileSync(join(dir, 'state', 'shard-status'), 'ready\n');
    symlinkSync('state/shard-status', join(dir, 'shard-status'));
    await consul.put(KEY, 'ready');
    const daemon = await start({ STATUS_PATH: join(dir, 'shard-status') }, null);
    await agentSays(daemon, 'up ready 100%\n');
    await consul.put(KEY, 'drain');
    await agentSays(daemon, 'up drain 0%\n');
    await fileSays(join(dir, 'state', 'shard-status'), 'drain');
    assert.equal(readlinkSync(join(dir, 'shard-status')), 'state/shard-status');
  });

  it('a read-only STATUS_PATH (a ConfigMap mount): the word still applies, and one line says it is not kept', async (t) => {
    const dir = join(suite.scratch, 'configmap');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(join(dir, 'shard-status'), 'ready\n');
    await consul.put(KEY, 'ready');
    // A read-only bind mount in a mount namespace of the daemon's own, as a kubelet mounts a ConfigMap.
    const mount = `mount --bind -o ro ${dir} ${dir} && mount -o remount,bind,ro ${dir} && exec "$@"`;
    let daemon: Daemon;
    try {
      daemon = await start({ STATUS_PATH: join(dir, 'shard-status') }, null, {
        elsewhere: { root: '/', argv: ['unshare', '--mount', 'sh', '-c', mount, 'sh', process.execPath, join(__dirname, '..', '..', 'dist', 'app.js')] },
      });
    } catch (error) {
      if (process.getuid?.() !== 0) {
        t.skip(`a read-only mount needs root: ${String(error)}`);
        return;
      }
      throw error;
    }
    await agentSays(daemon, 'up ready 100%\n');
    await consul.put(KEY, 'drain');
    await agentSays(daemon, 'up drain 0%\n');
    await consul.put(KEY, 'maint');
    await agentSays(daemon, 'up maint 0%\n');
    await waitFor('one line about the file', () => (logged(daemon, 'cannot write the Consul status word to STATUS_PATH') === 1 ? true : undefined));
    await sleep(200);
    assert.equal(logged(daemon, 'cannot write the Consul status word to STATUS_PATH'), 1);
    assert.match(daemon.lines.find((line) => line.includes('cannot write the Consul status word')) ?? '', /read-only file system/i);
    assert.equal(readFileSync(join(dir, 'shard-status'), 'utf8'), 'ready\n');
  });
});

describe('Consul restarted with its data gone', { skip }, () => {
  const suite = daemonSuite('consul-restart-');
  let path = '';
  before(() => {
    if ('path' in binary) path = binary.path;
  });

  it('the word stays while Consul is away, one line each way for watch and reports together, a write to the new Consul arrives though its index starts low again, and the report is back at once', async () => {
    let consul = await ConsulAgent.start(path);
    try {
      // Push the first Consul's index well above where a new one starts.
      for (let i = 0; i < 40; i += 1) await consul.put(`filler/${i}`, 'x');
      await consul.put(KEY, 'drain');
      const daemon = (suite.daemon = await startDaemon(
        {
          ...SLOW_POLL,
          JICOFO_ORIG: suite.fake.jicofoOrigin,
          PROSODY_ORIG: suite.fake.prosodyOrigin,
          CONSUL_STATUS: 'true',
          CONSUL_REPORTS: 'true',
          CONSUL_REPORT_KEY: 'signal-report/prod/shard1',
          CONSUL_HOST: '127.0.0.1',
          CONSUL_PORT: String(consul.httpPort),
          CONSUL_STATUS_KEY: KEY,
        },
        { status: 'ready\n' },
      ));
      await agentSays(daemon, 'up drain 0%\n');
      const port = consul.httpPort;
      await consul.kill();
      await waitFor('the outage to be logged', () => (daemon.lines.some((line) => line.includes('Consul unreachable')) ? true : undefined));
      await sleep(4000);
      assert.equal(verdict(await agentAnswer(daemon.agentPort)), 'up drain 0%\n', 'the word in force stays');
      assert.equal((await report(daemon.httpPort)).consul !== undefined && ((await report(daemon.httpPort)).consul as { reachable: boolean }).reachable, false);
      consul = await ConsulAgent.start(path, { httpPort: port });
      await waitFor('Consul to be reachable again', () => (daemon.lines.some((line) => line.includes('Consul reachable again')) ? true : undefined), 20_000);
      // Without this, the report would be missing from the new Consul until the next interval (60 s).
      await waitFor('the report in the new Consul', async () => ((await consul.get('signal-report/prod/shard1')) !== undefined ? true : undefined), 5000);
      const index = await consul.put(KEY, 'ready');
      assert.ok(index < 40, `the new Consul's index (${index}) is below the old one's`);
      await agentSays(daemon, 'up ready 100%\n', 10_000);
      await consul.put(KEY, 'maint');
      await agentSays(daemon, 'up maint 0%\n', 10_000);
      assert.equal(daemon.lines.filter((line) => line.includes('Consul unreachable')).length, 1, 'one line for the whole outage');
      assert.equal(daemon.lines.filter((line) => line.includes('Consul reachable again')).length, 1);
      assert.equal(daemon.child.exitCode, null);
    } finally {
      await consul.kill();
    }
  });
});
